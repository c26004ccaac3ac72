import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirInUseError, openDatabase } from '../../src/db/database.js';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres/index.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { PROJECT_ROOT } from '../../src/paths.js';

const logger = createLogger('silent');
let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'app-role-'));
  await chmod(root, 0o755);
});
afterAll(() => rm(root, { recursive: true, force: true }));

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

describe('the embedded database and the role the app connects as', () => {
  it('is a non-superuser that owns the shop database — also on a cluster an earlier version set up as the superuser', async () => {
    const dataDir = path.join(root, 'upgrade');
    // The earlier layout: the shop database created and migrated by the superuser.
    const old = await startEmbeddedPostgres({ dir: path.join(dataDir, 'postgres') });
    await old.ensureDatabase('shop');
    await migrateDatabase(old.url('shop'));
    await old.stop();
    const superPassword = await readFile(path.join(dataDir, 'postgres.password'), 'utf8');

    const database = await openDatabase({ dataDir, logger, exclusive: true });
    try {
      const url = new URL(database.url);
      expect(url.username).toBe('shop');
      const [me] = await query<{ user: string; rolsuper: boolean; rolcreaterole: boolean }>(
        database.url,
        'SELECT current_user AS user, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user',
      );
      expect(me).toEqual({ user: 'shop', rolsuper: false, rolcreaterole: false });
      const foreign = await query<{ name: string }>(
        database.url,
        `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S') AND pg_get_userbyid(c.relowner) <> 'shop'`,
      );
      expect(foreign).toEqual([]);
      await query(database.url, `INSERT INTO goods (name, price_fen, updated_at) VALUES ('Owned tea', 100, now())`);
      await expect(query(database.url, `COPY (SELECT 1) TO PROGRAM 'true'`)).rejects.toThrow(/permission denied|must be superuser|pg_execute_server_program/);
      await expect(query(database.url, `CREATE ROLE intruder SUPERUSER`)).rejects.toThrow(/permission denied/);
      await expect(query(database.url, `SELECT pg_read_file('postgresql.conf')`)).rejects.toThrow(/permission denied/);
      // Migrations run as the owner, and the superuser's password file is untouched.
      await migrateDatabase(database.url);
      expect(await readFile(path.join(dataDir, 'postgres.password'), 'utf8')).toBe(superPassword);
    } finally {
      await database.close();
    }
  }, 180_000);

  it('one DATA_DIR serves one app process: the app refuses a server another process runs; a short CLI command may use it', async () => {
    const dataDir = path.join(root, 'shared');
    const holder = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'tests/fixtures/hold-embedded-postgres.ts'), path.join(dataDir, 'postgres')], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
        holder.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
      });
      const refusal = openDatabase({ dataDir, logger, exclusive: true });
      await expect(refusal).rejects.toBeInstanceOf(DataDirInUseError);
      await expect(refusal).rejects.toThrow(
        new RegExp(`DATA_DIR ${dataDir} is in use by another shop process \\(pid ${holder.pid}\\).*One DATA_DIR serves one app process`),
      );
      const cli = await openDatabase({ dataDir, logger });
      expect(new URL(cli.url).username).toBe('shop');
      await cli.close();
      expect(holder.exitCode).toBeNull();
    } finally {
      holder.kill('SIGTERM');
      await new Promise((resolve) => (holder.exitCode === null ? holder.once('exit', resolve) : resolve(null)));
    }
  }, 180_000);
});
