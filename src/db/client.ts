import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Db = PrismaClient;

const pools = new WeakMap<Db, pg.Pool>();

/**
 * `keepOpen`: the pool keeps every connection it has opened instead of closing one after 10 s idle
 * (pg's default), so the first burst after a quiet spell does not wait for connections to be set up
 * (a backend start and SCRAM on each: 200-300 ms under load on 2 cores, measured in bench/). For the
 * server's long-lived pool; tools and tests keep the default.
 */
export function createDb(databaseUrl: string, opts: { poolSize?: number; keepOpen?: boolean } = {}): Db {
  const max = opts.poolSize ?? 10;
  const pool = new pg.Pool({ connectionString: databaseUrl, max, min: opts.keepOpen ? max : 0, connectionTimeoutMillis: 5_000 });
  // An idle connection the server ends (restart, idle timeout) is dropped by the pool and the next
  // query opens a new one; without a listener the 'error' event would end the process. Prisma adds
  // its own only on its first query, and the hottest statements bypass Prisma (queryRows).
  pool.on('error', (err) => console.warn(`database: an idle connection was closed and dropped (${err.message})`));
  // A burst (50 copies of a notification) queues for the pool longer than Prisma's default 2 s
  // maxWait for a transaction; wait as long as the pool itself would before failing.
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }), transactionOptions: { maxWait: 5_000, timeout: 10_000 } });
  pools.set(db, pool);
  return db;
}

/** Opens the pool's connections now (all `max` of them, at once), e.g. before a server says it is ready. */
export async function openPool(db: Db): Promise<void> {
  const pool = pools.get(db);
  if (!pool) return;
  const opened = await Promise.allSettled(Array.from({ length: pool.options.max }, () => pool.connect()));
  for (const result of opened) if (result.status === 'fulfilled') result.value.release();
  const failed = opened.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The client's own connection pool (metrics read its counts); undefined for clients made elsewhere. */
export function poolOf(db: Db): pg.Pool | undefined {
  return pools.get(db);
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

/**
 * queryRows without parallel workers, for statements that read a page or a capped count through
 * indexes: a parallel plan's start-up costs more than it saves there (a 6 ms catalog count took
 * 48 ms with two workers on a two-core server; the order list was three times slower).
 */
export async function queryRowsSerial<T extends pg.QueryResultRow>(db: Db, sql: string, params: unknown[]): Promise<T[]> {
  const pool = pools.get(db);
  if (!pool) return db.$queryRawUnsafe<T[]>(sql, ...params);
  const client = await pool.connect();
  let failed: Error | undefined;
  try {
    await client.query('BEGIN READ ONLY; SET LOCAL max_parallel_workers_per_gather = 0');
    const { rows } = await client.query<T>({ text: sql, values: params });
    await client.query('COMMIT');
    return rows;
  } catch (err) {
    failed = err as Error;
    throw err;
  } finally {
    client.release(failed);
  }
}
