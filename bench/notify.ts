// Valid signed notifications for distinct pre-created orders, 32 connections, beside the raw DB
// transaction the handler runs. Targets: ≥ 1,000 notifications/s, p99 < 100 ms.   npx tsx bench/notify.ts
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { signNotification } from '../src/alipay/index.js';
import { alipayKeys, APP_ID, buildShop, createDb, listen, load, report, startBenchDatabase } from './support.js';
import { buildNotification } from '../tests/support/notifications.js';

const N = Number(process.env.BENCH_NOTIFICATIONS ?? 10_000);
const CONNECTIONS = 32;
const database = await startBenchDatabase();
const db = createDb(database.url, { poolSize: CONNECTIONS });
const admin = new pg.Pool({ connectionString: database.url, max: CONNECTIONS });

async function createOrders(count: number, prefix: string): Promise<string[]> {
  const numbers = Array.from({ length: count }, () => `${prefix}${randomBytes(12).toString('hex')}`);
  await admin.query(
    `INSERT INTO orders (out_trade_no, total_fen, subject, expires_at, updated_at)
     SELECT n, 1990, 'bench', now() + interval '1 hour', now() FROM unnest($1::text[]) AS n`,
    [numbers],
  );
  return numbers;
}

const forHttp = await createOrders(N, 'H');
const forRaw = await createOrders(N, 'R');
console.log(`signing ${N} notifications…`);
const bodies = forHttp.map((outTradeNo, i) =>
  signNotification(
    buildNotification(
      { notify_id: `bench${i}`, app_id: APP_ID, auth_app_id: APP_ID, trade_no: `20261125220014468805${String(i).padStart(8, '0')}`, subject: 'bench' },
      { outTradeNo, totalFen: 1990 },
    ),
    alipayKeys.privateKey,
  ),
);

// The same work without HTTP, signature or Prisma: one transaction per notification.
async function rawRoundTrips() {
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const client = await admin.connect();
      try {
        for (let i = next++; i < forRaw.length; i = next++) {
          const t0 = performance.now();
          await client.query('BEGIN');
          const { rows } = await client.query('SELECT id, total_fen FROM orders WHERE out_trade_no = $1', [forRaw[i]]);
          await client.query(`UPDATE orders SET status = 'PAID', trade_no = $2, paid_at = now(), updated_at = now() WHERE id = $1 AND status = 'UNPAID'`, [rows[0].id, `R${i}`]);
          await client.query(`INSERT INTO payment_events (source, order_id, out_trade_no, notify_id, trade_status, verified, outcome, raw_body) VALUES ('NOTIFY', $1, $2, $3, 'TRADE_SUCCESS', true, 'applied', $4)`, [rows[0].id, forRaw[i], `raw${i}`, bodies[0]]);
          await client.query('COMMIT');
          latencies.push(performance.now() - t0);
        }
      } finally {
        client.release();
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { rps: forRaw.length / ((performance.now() - started) / 1000), p99: latencies[Math.floor(latencies.length * 0.99)]! };
}

const raw = await rawRoundTrips();
console.log(`${'raw DB transaction (pg, no HTTP)'.padEnd(34)} ${raw.rps.toFixed(0).padStart(7)} tx/s    p99 ${raw.p99.toFixed(1)} ms`);

const shop = await listen(buildShop(db));
let i = 0;
const result = await load({
  url: `${shop.url}/alipay/notify`,
  connections: CONNECTIONS,
  amount: N,
  requests: [
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded; text/html; charset=utf-8' },
      setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] }),
    },
  ],
});
report('POST /alipay/notify', result);
const paid = await admin.query(`SELECT count(*)::int AS n FROM orders WHERE status = 'PAID' AND out_trade_no LIKE 'H%'`);
console.log(`orders paid by notifications: ${paid.rows[0].n} of ${N}`);
console.log(`ratio notify/raw: ${(result.rps / raw.rps).toFixed(2)}×   (targets: ≥ 1000 notifications/s, p99 < 100 ms)`);

await shop.close();
await admin.end();
await db.$disconnect();
await database.stop();
