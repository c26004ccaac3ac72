-- The console's order list and CSV export read each order's items in id order: (order_id, id)
-- serves that without a sort per order, and every lookup by order_id as before.
-- DropIndex
DROP INDEX "order_items_order_id_idx";

-- CreateIndex
CREATE INDEX "order_items_order_id_id_idx" ON "order_items"("order_id", "id");

-- Order list search by part of a goods name (`name ILIKE '%q%'`). Neither index is in
-- schema.prisma (Prisma models neither an operator class from an extension nor an expression);
-- tests/support/describe-schema.ts leaves out *_trgm_idx and *_chars_idx.
-- Trigrams serve 3+ ASCII letters or digits (pg_trgm comes from 20261127141000_goods_name_trgm).
-- With the C ctype of the embedded database pg_trgm sees no word characters in Chinese text, so
-- a Chinese search gets no trigrams: the second index holds each name's characters, and
-- `regexp_split_to_array(lower(name), '') @> <the search's characters>` narrows to the names
-- that have them all (the ILIKE then checks their order).
CREATE INDEX "order_items_name_trgm_idx" ON "order_items" USING GIN ("name" gin_trgm_ops);

CREATE INDEX "order_items_name_chars_idx" ON "order_items" USING GIN (regexp_split_to_array(lower("name"), ''));
-- Statistics on every character seen, not only the most common: the planner then knows that a
-- character missing from the list is rare, and reads the index instead of walking the orders.
ALTER INDEX "order_items_name_chars_idx" ALTER COLUMN 1 SET STATISTICS 1000;
