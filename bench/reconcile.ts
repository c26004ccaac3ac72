// One day's reconciliation at scale: a trade bill of 100,000 payment rows (zip, GBK, real format)
// against 100,000 paid orders, 1% of each side unmatched, plus 1% of the orders partly refunded from
// the console (a refunds row and a bill refund row each, matched per out_request_no). Measures reading the zip plus the whole
// reconcileDate (orders loaded, classified, run and differences stored).
// Targets: < 10 s and < 300 MB (this process's peak RSS; PostgreSQL runs in its own process).
//   npm run bench:reconcile      (BENCH_ROWS to change the size)
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { buildTradeBillZip, type BillRowInput } from '../src/alipay/bill-writer.js';
import { createDb, startBenchDatabase } from './support.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const UNMATCHED = Math.floor(ROWS / 100);
const REFUNDS = Math.floor(ROWS / 100);
const DATE = '2026-11-26';
const dayStart = new Date('2026-11-25T16:00:00Z');

const database = await startBenchDatabase();
const admin = new pg.Pool({ connectionString: database.url, max: 2 });

// Built in a function of its own so that nothing of the preparation stays reachable.
async function prepare(): Promise<Uint8Array> {
  console.log(`preparing ${ROWS} orders (${REFUNDS} partly refunded) and a bill of ${ROWS} payment and ${REFUNDS} refund rows…`);
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
  await admin.query(
    `WITH r AS (
       UPDATE orders SET refunded_fen = 50, refunded_at = paid_at + interval '1 second' WHERE out_trade_no = ANY($1::text[])
       RETURNING id, trade_no, refunded_at, out_trade_no)
     INSERT INTO refunds (order_id, out_request_no, trade_no, amount_fen, reason, status, created_at, settled_at)
     SELECT id, 'RF' || out_trade_no, trade_no, 50, '', 'SUCCEEDED', refunded_at, refunded_at FROM r`,
    [numbers.slice(0, REFUNDS)],
  );
  await admin.query('ANALYZE orders');
  await admin.query('ANALYZE refunds');
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
  for (let i = 0; i < REFUNDS; i++) {
    const at = new Date(paidAt[i]!.getTime() + 1000);
    rows.push({ kind: 'refund', tradeNo: tradeNos[i]!, outTradeNo: numbers[i]!, subject: '龙井绿茶 Longjing Tea', createdAt: paidAt[i]!, finishedAt: at, amountFen: 50, outRequestNo: `RF${numbers[i]}` });
  }
  const zip = buildTradeBillZip({ sellerId: '2088123456789012', date: DATE, rows, exportedAt: new Date('2026-11-26T21:00:00Z') });
  rows.length = 0;
  console.log(`bill zip: ${(zip.length / 1024 / 1024).toFixed(1)} MB`);
  return zip;
}
const zip = await prepare();

// The reconciliation runs in a fresh process of its own, so its peak RSS (VmHWM) is its own.
const zipPath = path.join(os.tmpdir(), `bench-bill-${process.pid}.zip`);
await writeFile(zipPath, zip);
const child = await new Promise<string>((resolve, reject) => {
  execFile(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'reconcile-run.ts'), database.url, zipPath, DATE], { maxBuffer: 1 << 20 }, (err, stdout, stderr) =>
    err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
  );
});
await rm(zipPath, { force: true });
const m = JSON.parse(child.trim().split('\n').pop()!) as Record<string, number | string>;
const mb = (n: number | string) => (Number(n) / 1024 / 1024).toFixed(0).padStart(6);
console.log(
  [
    `rows ${ROWS + REFUNDS}  matched payments ${m['matched']}, refunds ${m['matchedRefunds']}  differences ${m['differences']} (${m['kinds']})`,
    `read zip + parse (in it)${Number(m['readMs']).toFixed(0).padStart(6)} ms wall`,
    `whole reconciliation    ${Number(m['totalMs']).toFixed(0).padStart(6)} ms wall ${Number(m['totalCpuMs']).toFixed(0).padStart(6)} ms CPU of the process   (target < 10000 ms)`,
    `load average            ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores (wall times stretch with it)`,
    `RSS before the run      ${mb(m['startRss']!)} MB   (the code loaded, connected; the zip read: ${mb(zip.length).trim()} MB)`,
    `peak RSS (VmHWM)        ${mb(m['peakRss']!)} MB   (target < 300 MB; the run added ${mb(Number(m['peakRss']) - Number(m['startRss'])).trim()} MB at most)`,
  ].join('\n'),
);

await admin.end();
await database.stop();
