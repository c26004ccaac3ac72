-- AlterEnum
ALTER TYPE "PaymentEventSource" ADD VALUE 'BILL';

-- CreateEnum
CREATE TYPE "ReconciliationStatus" AS ENUM ('MATCHED', 'DIFFERENCES');

-- CreateEnum
CREATE TYPE "ReconciliationDifferenceKind" AS ENUM ('PAID_NOT_RECORDED', 'UNKNOWN_PAYMENT', 'NOT_IN_BILL', 'AMOUNT_MISMATCH', 'REFUND_NOT_RECORDED', 'REFUND_NOT_IN_BILL', 'DUPLICATE');

-- CreateTable
CREATE TABLE "reconciliation_runs" (
    "id" SERIAL NOT NULL,
    "bill_date" VARCHAR(10) NOT NULL,
    "bill_type" VARCHAR(20) NOT NULL,
    "status" "ReconciliationStatus" NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL,
    "finished_at" TIMESTAMPTZ(3) NOT NULL,
    "bill_payment_count" INTEGER NOT NULL,
    "bill_payment_fen" BIGINT NOT NULL,
    "bill_refund_count" INTEGER NOT NULL,
    "bill_refund_fen" BIGINT NOT NULL,
    "shop_payment_count" INTEGER NOT NULL,
    "shop_payment_fen" BIGINT NOT NULL,
    "shop_refund_count" INTEGER NOT NULL,
    "shop_refund_fen" BIGINT NOT NULL,
    "matched_payment_count" INTEGER NOT NULL,
    "matched_payment_fen" BIGINT NOT NULL,
    "matched_refund_count" INTEGER NOT NULL,
    "matched_refund_fen" BIGINT NOT NULL,
    "difference_count" INTEGER NOT NULL,
    "confirmed_count" INTEGER NOT NULL,

    CONSTRAINT "reconciliation_runs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "reconciliation_differences" (
    "id" SERIAL NOT NULL,
    "run_id" INTEGER NOT NULL,
    "kind" "ReconciliationDifferenceKind" NOT NULL,
    "resolution" VARCHAR(20) NOT NULL,
    "order_id" INTEGER,
    "out_trade_no" VARCHAR(64),
    "trade_no" VARCHAR(64),
    "out_request_no" VARCHAR(64),
    "bill_fen" BIGINT,
    "shop_fen" BIGINT,
    "shop_status" VARCHAR(20),
    "detail" VARCHAR(500) NOT NULL,

    CONSTRAINT "reconciliation_differences_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "reconciliation_jobs" (
    "bill_date" VARCHAR(10) NOT NULL,
    "bill_type" VARCHAR(20) NOT NULL,
    "claimed_by" VARCHAR(100),
    "claimed_until" TIMESTAMPTZ(3),
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "done_at" TIMESTAMPTZ(3),
    "last_error" VARCHAR(500),

    CONSTRAINT "reconciliation_jobs_pkey" PRIMARY KEY ("bill_date","bill_type")
);

-- CreateIndex
CREATE INDEX "orders_refunded_at_idx" ON "orders"("refunded_at");

-- CreateIndex
CREATE UNIQUE INDEX "reconciliation_runs_bill_date_bill_type_key" ON "reconciliation_runs"("bill_date", "bill_type");

-- CreateIndex
CREATE INDEX "reconciliation_differences_run_id_idx" ON "reconciliation_differences"("run_id");

-- CreateIndex
CREATE INDEX "reconciliation_differences_order_id_idx" ON "reconciliation_differences"("order_id");

-- AddForeignKey
ALTER TABLE "reconciliation_differences" ADD CONSTRAINT "reconciliation_differences_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "reconciliation_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
