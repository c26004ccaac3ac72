import { defineConfig } from 'prisma/config';

// The app applies migrations itself (src/db/migrate.ts); this file serves `prisma migrate deploy`
// and `prisma migrate status` for those who have Prisma's schema engine.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
});
