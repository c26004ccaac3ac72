import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { createDb, type Db } from '../../src/db/client.js';

export const TEMPLATE_DATABASE = 'shop_template';

export interface TestDatabase {
  url: string;
  db: Db;
  /** Runs raw SQL as the superuser on this database. */
  sql<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>, url = inject('pgAdminUrl')): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh, migrated, empty database of its own. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE}`));
  const url = new URL(inject('pgAdminUrl'));
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), { poolSize: 20 });
  return {
    url: url.toString(),
    db,
    sql: (text, params) => admin(async (c) => (await c.query(text, params)).rows, url.toString()),
    async drop() {
      await db.$disconnect();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * A database of this test file's own, created before its tests and dropped after them. Call it at
 * the top of the file; the returned value's members are usable inside hooks and tests.
 */
export function useTestDatabase(): TestDatabase {
  let current: TestDatabase | undefined;
  beforeAll(async () => {
    current = await createTestDatabase();
  });
  afterAll(async () => {
    await current?.drop();
  });
  const get = (): TestDatabase => {
    if (!current) throw new Error('useTestDatabase(): the database exists only inside hooks and tests');
    return current;
  };
  return {
    get url() {
      return get().url;
    },
    get db() {
      return get().db;
    },
    sql: (text, params) => get().sql(text, params),
    drop: () => get().drop(),
  };
}
