// The latency floor of this machine for a given CPU cost per request: a bare node:http server that
// reads the request, spends `ms` milliseconds of its own CPU (query ?ms=) in four slices and, with
// ?db=, `db` milliseconds of PostgreSQL's CPU in one query between two of them (like a handler
// awaiting the database), then answers 200. The same work for every request, nothing allocated to
// speak of, no locks, no rows: whatever spread its p99 shows under the harness's wrk settings comes
// from one event loop serving many connections on cores shared with the database, not from anything
// a shop does. The harness runs it at the shop's own CPU per request (server and database).
import http from 'node:http';
import pg from 'pg';

const SLICES = 4;
const pool = process.env.DATABASE_URL ? new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10, min: 10 }) : undefined;

function spend(ms: number) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** generate_series rows PostgreSQL counts per millisecond of its CPU on this machine (measured once, idle). */
let rowsPerMs = 0;
if (pool) {
  const rows = 2_000_000;
  await pool.query('SELECT count(*) FROM generate_series(1, $1::int)', [rows]); // warm
  const t0 = performance.now();
  await pool.query('SELECT count(*) FROM generate_series(1, $1::int)', [rows]);
  rowsPerMs = rows / (performance.now() - t0);
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const param = (url: URL, name: string) => Math.min(50, Math.max(0, Number(url.searchParams.get(name)) || 0));

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const ms = param(url, 'ms');
  const dbMs = pool ? param(url, 'db') : 0;
  req.resume();
  req.on('end', async () => {
    try {
      for (let i = 0; i < SLICES; i++) {
        if (i === 1 && dbMs > 0) await pool!.query({ name: 'burn', text: 'SELECT count(*) FROM generate_series(1, $1::int)', values: [Math.round(dbMs * rowsPerMs)] });
        else if (i > 0) await nextTurn();
        spend(ms / SLICES);
      }
      res.end('ok');
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err));
    }
  });
});
server.listen(Number(process.env.PORT ?? 3100), process.env.HOST ?? '127.0.0.1');
