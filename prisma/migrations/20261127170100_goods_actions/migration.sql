-- AlterTable
ALTER TABLE "operator_actions" ADD COLUMN "goods_id" INTEGER;

-- CreateIndex
CREATE INDEX "operator_actions_goods_id_created_at_idx" ON "operator_actions"("goods_id", "created_at");

-- AddForeignKey
ALTER TABLE "operator_actions" ADD CONSTRAINT "operator_actions_goods_id_fkey" FOREIGN KEY ("goods_id") REFERENCES "goods"("id") ON DELETE SET NULL ON UPDATE CASCADE;
