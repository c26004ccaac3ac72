-- CreateEnum
CREATE TYPE "OperatorRole" AS ENUM ('admin', 'viewer');

-- CreateEnum
CREATE TYPE "RefundStatus" AS ENUM ('PENDING', 'SUCCEEDED', 'FAILED');

-- CreateTable
CREATE TABLE "operators" (
    "id" SERIAL NOT NULL,
    "email" VARCHAR(254) NOT NULL,
    "password_hash" VARCHAR(200) NOT NULL,
    "role" "OperatorRole" NOT NULL DEFAULT 'admin',
    "disabled" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_sign_in_at" TIMESTAMPTZ(3),

    CONSTRAINT "operators_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "operator_actions" (
    "id" SERIAL NOT NULL,
    "operator_id" INTEGER,
    "operator_email" VARCHAR(254) NOT NULL,
    "order_id" INTEGER,
    "action" VARCHAR(40) NOT NULL,
    "outcome" VARCHAR(40) NOT NULL,
    "detail" VARCHAR(2000),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "operator_actions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "refunds" (
    "id" SERIAL NOT NULL,
    "order_id" INTEGER NOT NULL,
    "out_request_no" VARCHAR(64) NOT NULL,
    "form_token" VARCHAR(64),
    "trade_no" VARCHAR(64) NOT NULL,
    "amount_fen" INTEGER NOT NULL,
    "reason" VARCHAR(256) NOT NULL,
    "status" "RefundStatus" NOT NULL DEFAULT 'PENDING',
    "operator_id" INTEGER,
    "error" VARCHAR(500),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "settled_at" TIMESTAMPTZ(3),

    CONSTRAINT "refunds_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "orders_created_at_id_idx" ON "orders"("created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "orders_status_created_at_id_idx" ON "orders"("status", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "orders_paid_at_idx" ON "orders"("paid_at");

-- CreateIndex
CREATE INDEX "orders_buyer_logon_id_idx" ON "orders"("buyer_logon_id");

-- CreateIndex
CREATE INDEX "orders_attention_idx" ON "orders"("attention");

-- CreateIndex
CREATE UNIQUE INDEX "operators_email_key" ON "operators"("email");

-- CreateIndex
CREATE INDEX "operator_actions_order_id_created_at_idx" ON "operator_actions"("order_id", "created_at");

-- CreateIndex
CREATE INDEX "operator_actions_created_at_idx" ON "operator_actions"("created_at");

-- CreateIndex
CREATE UNIQUE INDEX "refunds_out_request_no_key" ON "refunds"("out_request_no");

-- CreateIndex
CREATE UNIQUE INDEX "refunds_form_token_key" ON "refunds"("form_token");

-- CreateIndex
CREATE INDEX "refunds_order_id_idx" ON "refunds"("order_id");

-- CreateIndex
CREATE INDEX "refunds_status_created_at_idx" ON "refunds"("status", "created_at");

-- AddForeignKey
ALTER TABLE "operator_actions" ADD CONSTRAINT "operator_actions_operator_id_fkey" FOREIGN KEY ("operator_id") REFERENCES "operators"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "operator_actions" ADD CONSTRAINT "operator_actions_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_operator_id_fkey" FOREIGN KEY ("operator_id") REFERENCES "operators"("id") ON DELETE SET NULL ON UPDATE CASCADE;
