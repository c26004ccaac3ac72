import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Db = PrismaClient;

const pools = new WeakMap<Db, pg.Pool>();

export function createDb(databaseUrl: string, opts: { poolSize?: number } = {}): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: opts.poolSize ?? 10, connectionTimeoutMillis: 5_000 });
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  pools.set(db, pool);
  return db;
}

/**
 * A plain SQL query on the client's own connection pool, for the few hottest statements (session
 * reads, placing an order) where Prisma's per-query work shows; falls back to Prisma for clients
 * made elsewhere. With `name`, each connection parses and plans the statement once.
 */
export async function queryRows<T extends pg.QueryResultRow>(db: Db, sql: string, params: unknown[], name?: string): Promise<T[]> {
  const pool = pools.get(db);
  if (pool) return (await pool.query<T>(name ? { name, text: sql, values: params } : { text: sql, values: params })).rows;
  return db.$queryRawUnsafe<T[]>(sql, ...params);
}
