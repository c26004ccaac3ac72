-- Catalog search: one GIN index on the name's 1-, 2- and 3-character pieces (lower case, none
-- starting or ending with a space) serves substring queries of any length in any script. It replaces the trigram index, which
-- cannot serve 1–2 character queries and, in a database with the C locale (the embedded one),
-- extracts no trigrams from Chinese at all, so '%龙井茶%' read the whole index.
-- A name matching ILIKE '%q%' holds every piece of lower(q) that goods_query_grams returns:
-- the index finds candidates, ILIKE decides. Both functions must stay identical in their
-- lower-casing and in what they skip; changing one means rebuilding the index.
-- Not in schema.prisma: Prisma cannot express an expression index (tests/support/describe-schema.ts).

CREATE FUNCTION goods_name_grams(name text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(g), '{}')
  FROM (SELECT lower(name) AS s) AS l, generate_series(1, char_length(l.s)) AS i,
       LATERAL (VALUES (substr(l.s, i, 1)), (substr(l.s, i, 2)), (substr(l.s, i, 3))) AS v(g)
  WHERE btrim(g) = g
$$;

-- The pieces a query needs: its 3-character pieces (the most selective), else its 2-character
-- ones, else its characters.
CREATE FUNCTION goods_query_grams(q text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(
    (SELECT array_agg(DISTINCT g) FROM generate_series(1, char_length(lower(q)) - 2) AS i, substr(lower(q), i, 3) AS g WHERE btrim(g) = g),
    (SELECT array_agg(DISTINCT g) FROM generate_series(1, char_length(lower(q)) - 1) AS i, substr(lower(q), i, 2) AS g WHERE btrim(g) = g),
    (SELECT array_agg(DISTINCT g) FROM generate_series(1, char_length(lower(q))) AS i, substr(lower(q), i, 1) AS g WHERE btrim(g) = g),
    '{}')
$$;

-- CreateIndex
CREATE INDEX "goods_name_grams_idx" ON "goods" USING GIN (goods_name_grams("name"));

-- DropIndex
DROP INDEX "goods_name_trgm_idx";
