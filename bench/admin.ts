// The operator console on 1,000,000 orders: order list (first page, deep cursor, single filters),
// dashboard, CSV export (rows/s, peak RSS). Targets: list p99 < 100 ms, dashboard p99 < 300 ms,
// CSV ≥ 50,000 rows/s with flat memory.      npm run bench:admin   (BENCH_ORDERS, BENCH_REQUESTS)
import os from 'node:os';
import { addOperator } from '../src/accounts/operators.js';
import { encodeCursor } from '../src/shop/admin-orders.js';
import { generateOrders } from './admin-data.js';
import { buildShop, createDb, listen, startBenchDatabase } from './support.js';

const ORDERS = Number(process.env.BENCH_ORDERS ?? 1_000_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20);


const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`load average at start: ${loadAverage()} (${os.cpus().length} cores)`);
const database = await startBenchDatabase();
const db = createDb(database.url, { poolSize: 10 });

let started = Date.now();
await generateOrders(db, ORDERS);
console.log(`generated ${ORDERS.toLocaleString('en')} orders in ${((Date.now() - started) / 1000).toFixed(1)} s`);

const shop = await listen(buildShop(db));
await addOperator(db, { email: 'bench@shop.test', password: 'bench-password-1' });
const loginPage = await fetch(`${shop.url}/admin/login`);
const csrfCookie = loginPage.headers.getSetCookie().find((c) => c.startsWith('shop.csrf='))!.split(';')[0]!;
const token = /name="_csrf" value="([^"]+)"/.exec(await loginPage.text())![1]!;
const signIn = await fetch(`${shop.url}/admin/login`, {
  method: 'POST',
  redirect: 'manual',
  headers: { cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ _csrf: token, email: 'bench@shop.test', password: 'bench-password-1' }).toString(),
});
const cookie = `${csrfCookie}; ${signIn.headers.getSetCookie().find((c) => c.startsWith('admin.sid='))!.split(';')[0]!}`;

async function measure(name: string, path: string, target: number, accept = 'text/html') {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < REQUESTS + 3; i++) {
    const t0 = performance.now();
    const res = await fetch(`${shop.url}${path}`, { headers: { cookie, accept } });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${body.slice(0, 300)}`);
    if (i >= 3) times.push(performance.now() - t0);
    bytes = body.length;
  }
  times.sort((a, b) => a - b);
  const p = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!;
  const p99 = p(0.99);
  console.log(`${name.padEnd(44)} p50 ${p(0.5).toFixed(1).padStart(6)} ms   p99 ${p99.toFixed(1).padStart(6)} ms   (target < ${target} ms${p99 < target ? '' : ' MISSED'})   ${(bytes / 1024).toFixed(0)} KiB`);
}

const deep = (await db.$queryRawUnsafe<{ created_at: Date; id: number }[]>(`SELECT created_at, id FROM orders ORDER BY created_at DESC, id DESC OFFSET ${Math.floor(ORDERS * 0.9)} LIMIT 1`))[0]!;
const deepCursor = encodeCursor({ createdAt: deep.created_at, id: deep.id });
const sample = (await db.$queryRawUnsafe<{ out_trade_no: string; trade_no: string; buyer_logon_id: string }[]>(`SELECT out_trade_no, trade_no, buyer_logon_id FROM orders WHERE trade_no IS NOT NULL ORDER BY id LIMIT 1 OFFSET ${Math.min(5000, Math.floor(ORDERS / 4))}`))[0]!;
const day = new Date(Date.now() - 100 * 86_400_000 + 8 * 3_600_000).toISOString().slice(0, 10);

console.log(`\norder list (HTML with status tabs, ${REQUESTS} sequential requests each):`);
await measure('first page', '/admin/orders', 100);
await measure('deep cursor (row 900,000)', `/admin/orders?after=${deepCursor}`, 100);
await measure('JSON first page', '/admin/orders.json', 100, 'application/json');
await measure('status=PAID', '/admin/orders?status=PAID', 100);
await measure('status=CLOSED, deep cursor', `/admin/orders?status=CLOSED&after=${deepCursor}`, 100);
await measure('q = order no. prefix', `/admin/orders?q=${sample.out_trade_no.slice(0, 14)}`, 100);
await measure('q = trade no. prefix', `/admin/orders?q=${sample.trade_no.slice(0, 26)}`, 100);
await measure('q = buyer account', `/admin/orders?q=${encodeURIComponent(sample.buyer_logon_id)}`, 100);
await measure('q = common goods name', `/admin/orders?q=${encodeURIComponent('Goods 7')}`, 100);
await measure('q = rare goods name (1 in 10,000)', `/admin/orders?q=${encodeURIComponent('Rare white')}`, 100);
await measure('q = common goods name, deep cursor', `/admin/orders?q=${encodeURIComponent('Goods 7')}&after=${deepCursor}`, 100);
await measure('q = Chinese, rare (稀有)', `/admin/orders?q=${encodeURIComponent('稀有')}`, 100);
await measure('q = Chinese, common (商品)', `/admin/orders?q=${encodeURIComponent('商品')}`, 100);
await measure('q = one Chinese character, no match (茶)', `/admin/orders?q=${encodeURIComponent('茶')}`, 100);
await measure('q = 1 letter, no match (x; newest 10,000)', '/admin/orders?q=x', 100);
await measure('q = 2 letters, rare (ea; newest 10,000)', '/admin/orders?q=ea', 100);
await measure('q = order no. prefix matching all (2026)', '/admin/orders?q=2026', 100);
await measure('q = buyer account, deep cursor', `/admin/orders?q=${encodeURIComponent(sample.buyer_logon_id)}&after=${deepCursor}`, 100);
await measure('status=CLOSED + q = goods name, deep cursor', `/admin/orders?status=CLOSED&q=${encodeURIComponent('Goods 3')}&after=${deepCursor}`, 100);
await measure(`from=to=${day} (one Beijing day)`, `/admin/orders?from=${day}&to=${day}`, 100);
await measure('attention=1', '/admin/orders?attention=1', 100);
await measure('attention=1, deep cursor', `/admin/orders?attention=1&after=${deepCursor}`, 100);
await measure('status=UNPAID&status=CLOSED, deep cursor', `/admin/orders?status=UNPAID&status=CLOSED&after=${deepCursor}`, 100);
console.log('\ndashboard:');
await measure('GET /admin', '/admin', 300);

console.log('\nCSV export of every order:');
const rssBefore = process.memoryUsage().rss;
let peakRss = rssBefore;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
started = performance.now();
const res = await fetch(`${shop.url}/admin/orders.csv`, { headers: { cookie } });
let rows = -1;
let size = 0;
const decoder = new TextDecoder();
for await (const chunk of res.body!) {
  size += chunk.length;
  const text = decoder.decode(chunk, { stream: true });
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) rows++;
}
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
console.log(`${rows.toLocaleString('en')} rows, ${(size / 1024 / 1024).toFixed(0)} MiB in ${seconds.toFixed(1)} s: ${Math.round(rows / seconds).toLocaleString('en')} rows/s (target ≥ 50,000)`);
console.log(`RSS (server and client in this process): before ${(rssBefore / 1024 / 1024).toFixed(0)} MiB, peak ${(peakRss / 1024 / 1024).toFixed(0)} MiB`);

console.log(`load average at end: ${loadAverage()}`);
await shop.close();
await db.$disconnect();
await database.stop();
