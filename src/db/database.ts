import path from 'node:path';
import { StartupError } from '../lib/startup-error.js';
import type { Logger } from '../logger.js';
import { ensureAppDatabase, startEmbeddedPostgres } from './embedded-postgres/index.js';
import { migrateDatabase } from './migrate.js';

export interface Database {
  url: string;
  embedded: boolean;
  /** Stops the embedded server (no-op for an external one). */
  close(): Promise<void>;
}

export const APP_ROLE = 'shop';

/** One DATA_DIR serves one app process: the embedded server stops with the process that started it. */
export class DataDirInUseError extends StartupError {
  override name = 'DataDirInUseError';
}

/**
 * DATABASE_URL when given, otherwise an embedded PostgreSQL with its cluster in DATA_DIR/postgres,
 * reached as the non-superuser role that owns the shop's database. Migrated.
 * `exclusive` (the app, the standalone sandbox): refuse a DATA_DIR whose server another live
 * process runs — it would stop that server under us. Short CLI commands may share it.
 */
export async function openDatabase(opts: { databaseUrl?: string; dataDir: string; logger: Logger; exclusive?: boolean }): Promise<Database> {
  const { logger } = opts;
  let database: Database;
  if (opts.databaseUrl) {
    database = { url: opts.databaseUrl, embedded: false, close: async () => {} };
  } else {
    const started = Date.now();
    const dir = path.join(opts.dataDir, 'postgres');
    const server = await startEmbeddedPostgres({
      dir,
      log: (line) => logger.debug({ component: 'postgres' }, line),
      warn: (line) => logger.warn({ component: 'postgres' }, line),
    });
    if (opts.exclusive && server.ownerPid !== undefined) {
      await server.stop();
      throw new DataDirInUseError(
        `DATA_DIR ${opts.dataDir} is in use by another shop process (pid ${server.ownerPid}), whose embedded PostgreSQL would stop with it. ` +
          'One DATA_DIR serves one app process: stop the other process, give this one its own DATA_DIR, or set DATABASE_URL to share a PostgreSQL server.',
      );
    }
    let url: string;
    try {
      url = await ensureAppDatabase({ superuserUrl: server.url, database: 'shop', role: APP_ROLE, passwordFile: `${dir}.${APP_ROLE}.password` });
    } catch (err) {
      await server.stop();
      throw err;
    }
    logger.info({ port: server.port, ms: Date.now() - started, attached: server.attached }, 'embedded PostgreSQL ready');
    database = { url, embedded: true, close: () => server.stop() };
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
