import { afterAll, describe, expect, it } from 'vitest';
import { createDb, openPool, type Db } from '../../src/db/client.js';
import { useTestDatabase } from '../support/db.js';

// The server's pool (main.ts: keepOpen, opened before it says it is ready) must still hold its
// connections after a quiet spell: the first burst after one otherwise waits 200-300 ms for new
// backends and SCRAM on each connection (bench/run.ts showed it at every round's start).
const database = useTestDatabase();
const made: Db[] = [];
afterAll(async () => {
  await Promise.all(made.map((db) => db.$disconnect()));
});

function poolNamed(name: string, opts: { keepOpen?: boolean }): Db {
  const url = new URL(database.url);
  url.searchParams.set('application_name', name);
  const db = createDb(url.toString(), { poolSize: 3, ...opts });
  made.push(db);
  return db;
}

async function connectionsOf(name: string): Promise<number> {
  const [row] = await database.sql<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
    [name],
  );
  return row!.n;
}

describe('the connection pool', () => {
  it('opens every connection up front and, with keepOpen, keeps them past the idle timeout', async () => {
    const kept = poolNamed('pool_kept', { keepOpen: true });
    const plain = poolNamed('pool_plain', {});
    await Promise.all([openPool(kept), openPool(plain)]);
    expect(await connectionsOf('pool_kept')).toBe(3);
    expect(await connectionsOf('pool_plain')).toBe(3);

    // pg closes an idle connection after 10 s by default.
    await new Promise((r) => setTimeout(r, 11_000));
    expect(await connectionsOf('pool_plain')).toBe(0);
    expect(await connectionsOf('pool_kept')).toBe(3);

    // Still a working pool: a query after the quiet spell runs on a kept connection.
    await kept.$queryRaw`SELECT 1`;
    expect(await connectionsOf('pool_kept')).toBe(3);
  }, 30_000);
});
