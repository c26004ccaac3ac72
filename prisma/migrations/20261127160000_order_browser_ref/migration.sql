-- AlterTable
ALTER TABLE "orders" ADD COLUMN     "browser_ref" VARCHAR(64);

-- CreateIndex
CREATE INDEX "orders_browser_ref_idx" ON "orders"("browser_ref");
