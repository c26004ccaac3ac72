// Dev aid (not used at run time): prints the SQL that takes the database built by the committed
// migrations to prisma/schema.prisma, using Prisma's schema engine compiled to Wasm. Review it,
// then save it as prisma/migrations/<timestamp>_<name>/migration.sql.
//   DATABASE_URL=postgres://… npx tsx prisma/draft-migration.ts
import { diffSchemas } from '../tests/support/schema-engine.js';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('Set DATABASE_URL to a PostgreSQL database this tool may use as a shadow database server.');
  process.exit(2);
}
const sql = await diffSchemas(url, { from: 'migrations', to: 'schema' });
process.stdout.write(sql || '-- no changes\n');
