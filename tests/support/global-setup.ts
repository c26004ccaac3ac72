import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres/index.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { TEMPLATE_DATABASE } from './db.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of the test server's maintenance database ("postgres"). */
    pgAdminUrl: string;
  }
}

// One real PostgreSQL for the whole run; each test file gets its own database cloned from a
// migrated template (tests/support/db.ts), so files run in parallel without seeing each other.
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shop-test-pg-'));
  await chmod(dir, 0o755);
  const server = await startEmbeddedPostgres({
    dir: path.join(dir, 'postgres'),
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' },
  });
  await server.ensureDatabase(TEMPLATE_DATABASE);
  await migrateDatabase(server.url(TEMPLATE_DATABASE));
  project.provide('pgAdminUrl', server.url('postgres'));
  return async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
