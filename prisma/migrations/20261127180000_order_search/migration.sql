-- The console's order list and CSV export read each order's items in id order: (order_id, id)
-- serves that without a sort per order, and every lookup by order_id as before.
-- DropIndex
DROP INDEX "order_items_order_id_idx";

-- CreateIndex
CREATE INDEX "order_items_order_id_id_idx" ON "order_items"("order_id", "id");

-- Order list search by part of a goods name: `name ILIKE '%q%'` uses this trigram index for 3+
-- characters (Chinese included). Not in schema.prisma, like goods_name_trgm_idx (pg_trgm is
-- created by 20261127141000_goods_name_trgm).
CREATE INDEX "order_items_name_trgm_idx" ON "order_items" USING GIN ("name" gin_trgm_ops);
