// One day's reconciliation at scale: a trade bill of 100,000 rows (zip, GBK, real format) against
// 100,000 paid orders, 1% of each side unmatched. Measures reading the zip plus the whole
// reconcileDate (orders loaded, classified, run and differences stored).
// Targets: < 10 s and < 300 MB (this process's peak RSS; PostgreSQL runs in its own process).
//   npm run bench:reconcile      (BENCH_ROWS to change the size)
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { readTradeBill } from '../src/alipay/bill.js';
import { buildTradeBillZip, type BillRowInput } from '../src/alipay/bill-writer.js';
import { billEntries } from '../src/payments/alipay-adapter.js';
import { getReconciliationRun, reconcileDate } from '../src/shop/payments/reconciliation.js';
import { benchGateway, createDb, startBenchDatabase } from './support.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const UNMATCHED = Math.floor(ROWS / 100);
const DATE = '2026-11-26';
const dayStart = new Date('2026-11-25T16:00:00Z');

const database = await startBenchDatabase();
const db = createDb(database.url, { poolSize: 4 });
const admin = new pg.Pool({ connectionString: database.url, max: 2 });

// Built in a function of its own so that nothing of the preparation stays reachable.
async function prepare(): Promise<Uint8Array> {
  console.log(`preparing ${ROWS} orders and a bill of ${ROWS} rows…`);
  const numbers = Array.from({ length: ROWS }, () => `B${randomBytes(12).toString('hex')}`);
  const tradeNos = numbers.map((_, i) => `2026112622001${String(i).padStart(15, '0')}`);
  const paidAt = numbers.map((_, i) => new Date(dayStart.getTime() + Math.floor((i * 86_399_000) / ROWS)));
  const fen = numbers.map((_, i) => 100 + (i % 50_000));
  // The shop: every order PAID that day; the last 1% never reached the bill.
  for (let i = 0; i < ROWS; i += 20_000) {
    await admin.query(
      `INSERT INTO orders (out_trade_no, status, total_fen, subject, expires_at, trade_no, paid_at, updated_at)
       SELECT n, 'PAID', f, 'bench', p, t, p, now() FROM unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[]) AS x(n, f, t, p)`,
      [numbers.slice(i, i + 20_000), fen.slice(i, i + 20_000), tradeNos.slice(i, i + 20_000), paidAt.slice(i, i + 20_000)],
    );
  }
  await admin.query('ANALYZE orders');
  // The bill: the first 99% match, then 1% payments of orders the shop never made.
  const rows: BillRowInput[] = [];
  for (let i = 0; i < ROWS; i++) {
    const matched = i < ROWS - UNMATCHED;
    rows.push({
      kind: 'payment',
      tradeNo: matched ? tradeNos[i]! : `2026112622009${String(i).padStart(15, '0')}`,
      outTradeNo: matched ? numbers[i]! : `UNKNOWN${i}`,
      subject: '龙井绿茶 Longjing Tea',
      createdAt: paidAt[i]!,
      finishedAt: paidAt[i]!,
      amountFen: fen[i]!,
      buyerLogonId: 'buy***@163.com',
    });
  }
  const zip = buildTradeBillZip({ sellerId: '2088123456789012', date: DATE, rows, exportedAt: new Date('2026-11-26T21:00:00Z') });
  rows.length = 0;
  console.log(`bill zip: ${(zip.length / 1024 / 1024).toFixed(1)} MB`);
  return zip;
}
const zip = await prepare();

global.gc?.();
let peakRss = process.memoryUsage().rss;
const baseRss = peakRss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 20);

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const t0 = performance.now();
const cpu0 = cpu();
let readMs = 0;
let readCpuMs = 0;
const result = await reconcileDate(
  {
    db,
    provider: benchGateway(),
    bills: {
      async tradeBill() {
        const r0 = performance.now();
        const c0 = cpu();
        const bill = readTradeBill(zip);
        readMs = performance.now() - r0;
        readCpuMs = cpu() - c0;
        return { kind: 'bill', entries: billEntries(bill) };
      },
    },
  },
  DATE,
);
const totalMs = performance.now() - t0;
const totalCpuMs = cpu() - cpu0;
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
if (result.kind !== 'done') throw new Error('expected a run');

const run = await getReconciliationRun(db, DATE);
const kinds = new Map<string, number>();
for (const d of run.differences) kinds.set(d.kind, (kinds.get(d.kind) ?? 0) + 1);
console.log(
  [
    `rows ${ROWS}  matched ${result.run.matched.payments.count}  differences ${result.run.differenceCount} (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')})`,
    `read zip + parse        ${readMs.toFixed(0).padStart(6)} ms wall ${readCpuMs.toFixed(0).padStart(6)} ms CPU`,
    `whole reconciliation    ${totalMs.toFixed(0).padStart(6)} ms wall ${totalCpuMs.toFixed(0).padStart(6)} ms CPU of this process   (target < 10000 ms)`,
    `load average            ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores (wall times stretch with it)`,
    `peak RSS                ${(peakRss / 1024 / 1024).toFixed(0).padStart(6)} MB   (target < 300 MB; ${(baseRss / 1024 / 1024).toFixed(0)} MB before the run)`,
  ].join('\n'),
);

await admin.end();
await db.$disconnect();
await database.stop();
