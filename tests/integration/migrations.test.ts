import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { describeSchema } from '../support/describe-schema.js';
import { diffSchemas } from '../support/schema-engine.js';

let migrated: TestDatabase;
let fromPrisma: TestDatabase;

beforeAll(async () => {
  migrated = await createTestDatabase();
  fromPrisma = await createTestDatabase();
});
afterAll(async () => {
  await migrated.drop();
  await fromPrisma.drop();
});

describe('migrations', () => {
  it('build exactly the schema that schema.prisma describes (no drift)', async () => {
    // Prisma's own engine says what schema.prisma means in SQL; build that in an empty database
    // and compare both catalogs: tables, columns, types, defaults, indexes, keys, enums.
    await fromPrisma.sql('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
    const sql = await diffSchemas(fromPrisma.url, { from: 'empty', to: 'schema' });
    expect(sql).toContain('CREATE TABLE');
    await fromPrisma.sql(sql);
    const expected = await describeSchema(fromPrisma.url);
    const actual = await describeSchema(migrated.url);
    expect(actual).toEqual(expected);
  });

  it('are recorded the way Prisma records them, and re-running applies nothing', async () => {
    const rows = await migrated.sql<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }>(
      'SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations"',
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.applied_steps_count).toBe(1);
    }
    expect(await migrateDatabase(migrated.url)).toEqual({ applied: [], warnings: [] });
  });
});

describe('a failing migration', () => {
  it('is recorded as failed, leaves no partial change, and blocks later runs until resolved', async () => {
    const { mkdtemp, mkdir, writeFile } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'migrations-'));
    await mkdir(path.join(dir, '001_ok'));
    await writeFile(path.join(dir, '001_ok', 'migration.sql'), 'CREATE TABLE a (id int);');
    await mkdir(path.join(dir, '002_bad'));
    await writeFile(path.join(dir, '002_bad', 'migration.sql'), 'CREATE TABLE b (id int);\nSELECT * FROM no_such_table;');
    const scratch = await createTestDatabase();
    try {
      await scratch.sql('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
      await expect(migrateDatabase(scratch.url, dir)).rejects.toThrow(/002_bad failed: .*no_such_table/);
      const rows = await scratch.sql<{ migration_name: string; finished_at: Date | null; logs: string | null }>(
        'SELECT migration_name, finished_at, logs FROM "_prisma_migrations" ORDER BY migration_name',
      );
      expect(rows.map((r) => [r.migration_name, r.finished_at !== null])).toEqual([['001_ok', true], ['002_bad', false]]);
      expect(rows[1]!.logs).toMatch(/no_such_table/);
      // The failed migration's first statement was rolled back with it.
      expect(await scratch.sql("SELECT to_regclass('public.b') AS t")).toEqual([{ t: null }]);
      await expect(migrateDatabase(scratch.url, dir)).rejects.toThrow(/failed earlier/);
    } finally {
      await scratch.drop();
    }
  });

  it('runs once when several instances migrate at the same time', async () => {
    const scratch = await createTestDatabase();
    try {
      await scratch.sql('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
      const results = await Promise.all([migrateDatabase(scratch.url), migrateDatabase(scratch.url), migrateDatabase(scratch.url)]);
      const applied = results.flatMap((r) => r.applied);
      const count = (await scratch.sql<{ n: number }>('SELECT count(*)::int AS n FROM "_prisma_migrations"'))[0]!.n;
      expect(applied).toHaveLength(count);
    } finally {
      await scratch.drop();
    }
  });
});
