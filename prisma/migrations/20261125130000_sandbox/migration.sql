-- CreateEnum
CREATE TYPE "SandboxTradeStatus" AS ENUM ('WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED');

-- CreateEnum
CREATE TYPE "SandboxNotificationStatus" AS ENUM ('PENDING', 'DELIVERED', 'GAVE_UP');

-- CreateTable
CREATE TABLE "sandbox_trades" (
    "id" SERIAL NOT NULL,
    "cashier_id" VARCHAR(40) NOT NULL,
    "app_id" VARCHAR(32) NOT NULL,
    "method" VARCHAR(64) NOT NULL,
    "product_code" VARCHAR(64) NOT NULL,
    "out_trade_no" VARCHAR(64) NOT NULL,
    "trade_no" VARCHAR(64) NOT NULL,
    "status" "SandboxTradeStatus" NOT NULL DEFAULT 'WAIT_BUYER_PAY',
    "total_fen" BIGINT NOT NULL,
    "refunded_fen" BIGINT NOT NULL DEFAULT 0,
    "subject" VARCHAR(256) NOT NULL,
    "body" TEXT,
    "passback_params" TEXT,
    "notify_url" TEXT,
    "return_url" TEXT,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "buyer_id" VARCHAR(32),
    "buyer_logon_id" VARCHAR(100),
    "paid_at" TIMESTAMPTZ(3),
    "closed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "sandbox_trades_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sandbox_refunds" (
    "id" SERIAL NOT NULL,
    "trade_id" INTEGER NOT NULL,
    "out_request_no" VARCHAR(64) NOT NULL,
    "refund_fen" BIGINT NOT NULL,
    "reason" VARCHAR(256),
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "sandbox_refunds_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sandbox_notifications" (
    "id" SERIAL NOT NULL,
    "trade_id" INTEGER NOT NULL,
    "notify_id" VARCHAR(64) NOT NULL,
    "kind" VARCHAR(20) NOT NULL,
    "url" TEXT NOT NULL,
    "fields" JSONB NOT NULL,
    "status" "SandboxNotificationStatus" NOT NULL DEFAULT 'PENDING',
    "attempt_count" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3),
    "delivered_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "sandbox_notifications_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sandbox_notification_attempts" (
    "id" SERIAL NOT NULL,
    "notification_id" INTEGER NOT NULL,
    "attempt_no" INTEGER NOT NULL,
    "trigger" VARCHAR(20) NOT NULL,
    "attempted_at" TIMESTAMPTZ(3) NOT NULL,
    "ok" BOOLEAN NOT NULL,
    "http_status" INTEGER,
    "error" VARCHAR(500),
    "response" VARCHAR(500),

    CONSTRAINT "sandbox_notification_attempts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sandbox_settings" (
    "id" INTEGER NOT NULL,
    "fail_notifications" INTEGER NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "sandbox_settings_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "sandbox_trades_cashier_id_key" ON "sandbox_trades"("cashier_id");

-- CreateIndex
CREATE UNIQUE INDEX "sandbox_trades_trade_no_key" ON "sandbox_trades"("trade_no");

-- CreateIndex
CREATE INDEX "sandbox_trades_created_at_idx" ON "sandbox_trades"("created_at");

-- CreateIndex
CREATE UNIQUE INDEX "sandbox_trades_app_id_out_trade_no_key" ON "sandbox_trades"("app_id", "out_trade_no");

-- CreateIndex
CREATE UNIQUE INDEX "sandbox_refunds_trade_id_out_request_no_key" ON "sandbox_refunds"("trade_id", "out_request_no");

-- CreateIndex
CREATE UNIQUE INDEX "sandbox_notifications_notify_id_key" ON "sandbox_notifications"("notify_id");

-- CreateIndex
CREATE INDEX "sandbox_notifications_trade_id_idx" ON "sandbox_notifications"("trade_id");

-- CreateIndex
CREATE INDEX "sandbox_notifications_status_next_attempt_at_idx" ON "sandbox_notifications"("status", "next_attempt_at");

-- CreateIndex
CREATE INDEX "sandbox_notification_attempts_notification_id_idx" ON "sandbox_notification_attempts"("notification_id");

-- AddForeignKey
ALTER TABLE "sandbox_refunds" ADD CONSTRAINT "sandbox_refunds_trade_id_fkey" FOREIGN KEY ("trade_id") REFERENCES "sandbox_trades"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sandbox_notifications" ADD CONSTRAINT "sandbox_notifications_trade_id_fkey" FOREIGN KEY ("trade_id") REFERENCES "sandbox_trades"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sandbox_notification_attempts" ADD CONSTRAINT "sandbox_notification_attempts_notification_id_fkey" FOREIGN KEY ("notification_id") REFERENCES "sandbox_notifications"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Money is checked by the database too (Prisma does not model CHECK constraints).
ALTER TABLE "sandbox_trades" ADD CONSTRAINT "sandbox_trades_total_fen_check" CHECK ("total_fen" > 0);
ALTER TABLE "sandbox_trades" ADD CONSTRAINT "sandbox_trades_refunded_fen_check" CHECK ("refunded_fen" >= 0 AND "refunded_fen" <= "total_fen");
ALTER TABLE "sandbox_refunds" ADD CONSTRAINT "sandbox_refunds_refund_fen_check" CHECK ("refund_fen" > 0);
