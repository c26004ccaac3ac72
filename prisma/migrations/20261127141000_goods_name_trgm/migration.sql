-- Catalog search: `name ILIKE '%q%'` uses this trigram index for queries of 3+ characters
-- (Chinese included) instead of scanning every row. pg_trgm is a trusted extension (PostgreSQL
-- 13+): the database owner may create it. Not in schema.prisma: Prisma cannot express an
-- operator-class index on an extension without a preview feature (tests/support/describe-schema.ts).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- CreateIndex
CREATE INDEX "goods_name_trgm_idx" ON "goods" USING GIN ("name" gin_trgm_ops);
