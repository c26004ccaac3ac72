// POST /orders (buy now) at 32 connections, beside the raw DB transaction that creates an order.
// Target: ≥ 500 purchases/s, p99 < 100 ms.   npx tsx bench/purchase.ts
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { buildShop, createDb, listen, load, report, startBenchDatabase } from './support.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 32;
const database = await startBenchDatabase();
const db = createDb(database.url, { poolSize: CONNECTIONS });
const admin = new pg.Pool({ connectionString: database.url, max: CONNECTIONS });
const goods = await db.goods.create({ data: { name: '商品 Bench goods', priceFen: 1990 } });

async function rawRoundTrips(seconds: number) {
  let count = 0;
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const client = await admin.connect();
      try {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          await client.query('BEGIN');
          const { rows: g } = await client.query('SELECT id, name, price_fen FROM goods WHERE id = ANY($1) AND active', [[goods.id]]);
          const { rows } = await client.query(
            `INSERT INTO orders (out_trade_no, total_fen, subject, expires_at, updated_at) VALUES ($1, $2, $3, now() + interval '30 minutes', now()) RETURNING id`,
            [`R${randomBytes(12).toString('hex')}`, g[0].price_fen, g[0].name],
          );
          await client.query('INSERT INTO order_items (order_id, goods_id, name, unit_price_fen, quantity) VALUES ($1, $2, $3, $4, 1)', [rows[0].id, goods.id, g[0].name, g[0].price_fen]);
          await client.query('COMMIT');
          latencies.push(performance.now() - t0);
          count++;
        }
      } finally {
        client.release();
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { rps: count / ((performance.now() - started) / 1000), p99: latencies[Math.floor(latencies.length * 0.99)]! };
}

const raw = await rawRoundTrips(DURATION);
console.log(`${'raw DB transaction (pg, no HTTP)'.padEnd(34)} ${raw.rps.toFixed(0).padStart(7)} tx/s    p99 ${raw.p99.toFixed(1)} ms`);

const shop = await listen(buildShop(db));
// Many shoppers: each request comes from one of 256 browser sessions (each purchase rewrites its
// session's order list).
const shoppers = await Promise.all(
  Array.from({ length: 256 }, async () => {
    const home = await fetch(`${shop.url}/`);
    const cookie = home.headers.get('set-cookie')!.split(';')[0]!;
    const token = /name="_csrf" value="([^"]+)"/.exec(await home.text())![1]!;
    return { cookie, body: `_csrf=${encodeURIComponent(token)}&goodsId=${goods.id}&quantity=1` };
  }),
);
const before = await db.order.count();
let n = 0;
const result = await load({
  url: `${shop.url}/orders`,
  connections: CONNECTIONS,
  duration: DURATION,
  requests: [
    {
      method: 'POST',
      setupRequest: (req) => {
        const s = shoppers[n++ % shoppers.length]!;
        return { ...req, body: s.body, headers: { ...req.headers, cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' } };
      },
    },
  ],
});
// 303 (to Alipay's cashier) is success here.
report('POST /orders (303 to cashier)', { ...result, non2xx: 0 });
const created = (await db.order.count()) - before;
console.log(`orders created: ${created}; ratio purchase/raw: ${(result.rps / raw.rps).toFixed(2)}×   (targets: ≥ 500 purchases/s, p99 < 100 ms)`);

await new Promise((r) => setTimeout(r, 500));
await shop.close();
await admin.end();
await db.$disconnect();
await database.stop();
