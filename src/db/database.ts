import path from 'node:path';
import type { Logger } from '../logger.js';
import { startEmbeddedPostgres } from './embedded-postgres/index.js';
import { migrateDatabase } from './migrate.js';

export interface Database {
  url: string;
  embedded: boolean;
  /** Stops the embedded server (no-op for an external one). */
  close(): Promise<void>;
}

/** DATABASE_URL when given, otherwise an embedded PostgreSQL with its cluster in DATA_DIR/postgres. Migrated. */
export async function openDatabase(opts: { databaseUrl?: string; dataDir: string; logger: Logger }): Promise<Database> {
  const { logger } = opts;
  let database: Database;
  if (opts.databaseUrl) {
    database = { url: opts.databaseUrl, embedded: false, close: async () => {} };
  } else {
    const started = Date.now();
    const server = await startEmbeddedPostgres({
      dir: path.join(opts.dataDir, 'postgres'),
      log: (line) => logger.debug({ component: 'postgres' }, line),
      warn: (line) => logger.warn({ component: 'postgres' }, line),
    });
    await server.ensureDatabase('shop');
    logger.info({ port: server.port, ms: Date.now() - started, attached: server.attached }, 'embedded PostgreSQL ready');
    database = { url: server.url('shop'), embedded: true, close: () => server.stop() };
  }
  try {
    const { applied, warnings } = await migrateDatabase(database.url);
    for (const warning of warnings) logger.warn(warning);
    if (applied.length) logger.info({ applied }, 'migrations applied');
  } catch (err) {
    await database.close();
    throw err;
  }
  return database;
}
