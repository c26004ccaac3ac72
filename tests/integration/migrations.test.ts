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
