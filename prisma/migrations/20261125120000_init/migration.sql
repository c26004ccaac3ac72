-- CreateEnum
CREATE TYPE "OrderStatus" AS ENUM ('UNPAID', 'PAID', 'CLOSED', 'EXPIRED', 'REFUNDED');

-- CreateEnum
CREATE TYPE "PaymentEventSource" AS ENUM ('NOTIFY', 'QUERY');

-- CreateTable
CREATE TABLE "goods" (
    "id" SERIAL NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "price_fen" INTEGER NOT NULL,
    "image_path" VARCHAR(300),
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "goods_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "orders" (
    "id" SERIAL NOT NULL,
    "out_trade_no" VARCHAR(64) NOT NULL,
    "status" "OrderStatus" NOT NULL DEFAULT 'UNPAID',
    "total_fen" INTEGER NOT NULL,
    "subject" VARCHAR(256) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "trade_no" VARCHAR(64),
    "buyer_logon_id" VARCHAR(100),
    "paid_at" TIMESTAMPTZ(3),
    "closed_at" TIMESTAMPTZ(3),
    "refunded_fen" INTEGER NOT NULL DEFAULT 0,
    "refunded_at" TIMESTAMPTZ(3),
    "attention" VARCHAR(500),
    "queried_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "orders_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "order_items" (
    "id" SERIAL NOT NULL,
    "order_id" INTEGER NOT NULL,
    "goods_id" INTEGER NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "unit_price_fen" INTEGER NOT NULL,
    "quantity" INTEGER NOT NULL,

    CONSTRAINT "order_items_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "payment_events" (
    "id" SERIAL NOT NULL,
    "source" "PaymentEventSource" NOT NULL,
    "order_id" INTEGER,
    "out_trade_no" VARCHAR(64),
    "notify_id" VARCHAR(128),
    "trade_status" VARCHAR(32),
    "verified" BOOLEAN NOT NULL,
    "outcome" VARCHAR(20) NOT NULL,
    "reason" VARCHAR(500),
    "raw_body" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "payment_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sessions" (
    "sid" VARCHAR(128) NOT NULL,
    "data" JSONB NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "sessions_pkey" PRIMARY KEY ("sid")
);

-- CreateIndex
CREATE INDEX "goods_active_id_idx" ON "goods"("active", "id");

-- CreateIndex
CREATE UNIQUE INDEX "goods_name_key" ON "goods"("name");

-- CreateIndex
CREATE UNIQUE INDEX "orders_out_trade_no_key" ON "orders"("out_trade_no");

-- CreateIndex
CREATE UNIQUE INDEX "orders_trade_no_key" ON "orders"("trade_no");

-- CreateIndex
CREATE INDEX "orders_status_expires_at_idx" ON "orders"("status", "expires_at");

-- CreateIndex
CREATE INDEX "orders_created_at_idx" ON "orders"("created_at");

-- CreateIndex
CREATE INDEX "order_items_order_id_idx" ON "order_items"("order_id");

-- CreateIndex
CREATE INDEX "order_items_goods_id_idx" ON "order_items"("goods_id");

-- CreateIndex
CREATE INDEX "payment_events_order_id_idx" ON "payment_events"("order_id");

-- CreateIndex
CREATE INDEX "payment_events_notify_id_idx" ON "payment_events"("notify_id");

-- CreateIndex
CREATE INDEX "payment_events_received_at_idx" ON "payment_events"("received_at");

-- CreateIndex
CREATE INDEX "sessions_expires_at_idx" ON "sessions"("expires_at");

-- AddForeignKey
ALTER TABLE "order_items" ADD CONSTRAINT "order_items_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "order_items" ADD CONSTRAINT "order_items_goods_id_fkey" FOREIGN KEY ("goods_id") REFERENCES "goods"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "payment_events" ADD CONSTRAINT "payment_events_order_id_fkey" FOREIGN KEY ("order_id") REFERENCES "orders"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- Money and quantities are checked by the database too (Prisma does not model CHECK constraints).
ALTER TABLE "goods" ADD CONSTRAINT "goods_price_fen_check" CHECK ("price_fen" > 0);
ALTER TABLE "orders" ADD CONSTRAINT "orders_total_fen_check" CHECK ("total_fen" > 0);
ALTER TABLE "orders" ADD CONSTRAINT "orders_refunded_fen_check" CHECK ("refunded_fen" >= 0 AND "refunded_fen" <= "total_fen");
ALTER TABLE "order_items" ADD CONSTRAINT "order_items_quantity_check" CHECK ("quantity" BETWEEN 1 AND 99);
ALTER TABLE "order_items" ADD CONSTRAINT "order_items_unit_price_fen_check" CHECK ("unit_price_fen" > 0);
