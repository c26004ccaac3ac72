import pg from 'pg';

/**
 * A comparable description of the public schema: columns, enums, indexes and constraints
 * (CHECK constraints, trigram indexes `*_trgm_idx`, character-array indexes `*_chars_idx` and n-gram
 * expression indexes `*_grams_idx`
 * excluded: Prisma does not model them, our migrations add them by hand).
 */
export async function describeSchema(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const q = async (text: string) => (await client.query(text)).rows;
    return {
      columns: await q(`
        SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,
               character_maximum_length, numeric_precision, datetime_precision
        FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'
        ORDER BY table_name, column_name`),
      enums: await q(`
        SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' GROUP BY t.typname ORDER BY t.typname`),
      indexes: await q(`
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' AND indexname NOT LIKE '%\\_trgm\\_idx' AND indexname NOT LIKE '%\\_chars\\_idx' AND indexname NOT LIKE '%\\_grams\\_idx'
        ORDER BY tablename, indexname`),
      constraints: await q(`
        SELECT c.conrelid::regclass::text AS table_name, c.conname, c.contype, pg_get_constraintdef(c.oid) AS def
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = 'public' AND c.contype <> 'c' AND c.conrelid::regclass::text <> '_prisma_migrations'
        ORDER BY 1, 2`),
    };
  } finally {
    await client.end();
  }
}
