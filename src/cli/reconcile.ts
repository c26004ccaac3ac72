// `npm run reconcile -- [--date yyyy-MM-dd]`: compares a day's Alipay trade bill (default:
// yesterday, Beijing time) with the orders. Exit 0 all match, 1 differences, 2 could not run.
import { runMain } from '../boot.js';
import { createDb } from '../db/client.js';
import { openDatabase } from '../db/database.js';
import { errorText } from '../lib/error-text.js';
import { beijingDate, startOfBeijingDay } from '../lib/beijing-time.js';
import { formatYuan } from '../lib/money.js';
import { createAlipayPayments } from '../payments/alipay-adapter.js';
import { beijingDayRange, getReconciliationRun, reconcileDate, type Difference, type RunSummary } from '../shop/payments/reconciliation.js';
import { setUpPayments } from '../wiring.js';

const USAGE = 'usage: npm run reconcile -- [--date yyyy-MM-dd]   (default: yesterday, Beijing time)';

function parseDate(argv: string[]): string {
  let date: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--date') date = argv[++i];
    else if (arg.startsWith('--date=')) date = arg.slice('--date='.length);
    else throw new Error(`unknown argument ${arg}`);
    if (date === undefined || date === '') throw new Error('--date needs a value');
  }
  date ??= beijingDate(startOfBeijingDay(new Date(), -1));
  beijingDayRange(date);
  return date;
}

let date: string;
try {
  date = parseDate(process.argv.slice(2));
} catch (err) {
  console.error(`${errorText(err)}\n${USAGE}`);
  process.exit(2);
}

const money = (fen: number | null) => (fen === null ? '-' : `¥${formatYuan(fen)}`);
const pair = (p: { count: number; fen: number }) => `${String(p.count).padStart(7)} ${money(p.fen).padStart(16)}`;

function formatRun(run: RunSummary, differences: Difference[]): string {
  const lines = [
    `Reconciliation of ${run.date} (trade bill): ${run.status === 'MATCHED' ? 'all match' : `${run.differenceCount} difference(s)`}`,
    `            ${'bill'.padStart(24)} ${'shop'.padStart(24)} ${'matched'.padStart(24)}`,
    `payments    ${pair(run.bill.payments)} ${pair(run.shop.payments)} ${pair(run.matched.payments)}`,
    `refunds     ${pair(run.bill.refunds)} ${pair(run.shop.refunds)} ${pair(run.matched.refunds)}`,
  ];
  if (run.confirmedCount) lines.push(`${run.confirmedCount} missed payment(s) confirmed from the bill (source BILL).`);
  for (const d of differences) {
    lines.push(
      `  ${d.kind.padEnd(19)} ${d.resolution.padEnd(9)} order ${d.outTradeNo ?? '-'} trade ${d.tradeNo ?? '-'}` +
        `${d.outRequestNo ? ` refund ${d.outRequestNo}` : ''} bill ${money(d.billFen)} shop ${money(d.shopFen)}${d.shopStatus ? ` (${d.shopStatus})` : ''}: ${d.detail}`,
    );
  }
  return lines.join('\n');
}

await runMain(
  async ({ config, logger, onShutdown, shutdown }) => {
    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
    onShutdown('database server', () => database.close());
    const db = createDb(database.url, { poolSize: 4 });
    onShutdown('database pool', () => db.$disconnect());
    const { settings, sandbox } = await setUpPayments(config, db, logger);
    const payments = createAlipayPayments(settings, config.publicBaseUrl);
    let result;
    try {
      result = await reconcileDate({ db, provider: payments, bills: payments }, date);
    } catch (err) {
      const hint = sandbox ? ` (the built-in sandbox gateway is served by the running shop at ${config.publicBaseUrl}: start it first)` : '';
      console.error(`could not reconcile ${date}: ${errorText(err)}${hint}`);
      return void (await shutdown('failed', 2));
    }
    if (result.kind === 'not-ready') {
      console.error(`could not reconcile ${date}: ${result.reason}`);
      return void (await shutdown('not ready', 2));
    }
    const { differences } = await getReconciliationRun(db, date);
    console.log(formatRun(result.run, differences));
    await shutdown('done', result.run.status === 'MATCHED' ? 0 : 1);
  },
  { signals: false, failureCode: 2, logLevel: (config) => (config.logLevel === 'silent' ? 'silent' : 'warn') },
);
