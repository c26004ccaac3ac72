// Child of bench/reconcile.ts: one reconcileDate over a bill zip file, in a process of its own;
// prints its figures as one JSON line.   reconcile-run.ts <database url> <zip file> <date>
import { readFile } from 'node:fs/promises';
import { openTradeBill } from '../src/alipay/bill.js';
import { createDb } from '../src/db/client.js';
import { billEntryStream } from '../src/payments/alipay-adapter.js';
import type { BillEntry } from '../src/shop/payments/reconciliation.js';
import { getReconciliationRun, reconcileDate } from '../src/shop/payments/reconciliation.js';
import { benchGateway } from './support.js';

const [url, zipPath, date] = process.argv.slice(2) as [string, string, string];
const db = createDb(url, { poolSize: 4 });
await db.$queryRaw`SELECT 1`;
const zip = new Uint8Array(await readFile(zipPath));
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const startRss = process.memoryUsage().rss;
const t0 = performance.now();
const cpu0 = cpu();
let readMs = 0;
// Reading is interleaved with the COPY now: the time spent inside the reader's next() is the read
// figure (wall only: a CPU reading per row would cost more than the row).
function* timed(entries: Iterable<BillEntry>): Generator<BillEntry> {
  const it = entries[Symbol.iterator]();
  for (;;) {
    const r0 = performance.now();
    const r = it.next();
    readMs += performance.now() - r0;
    if (r.done) return;
    yield r.value;
  }
}
const result = await reconcileDate(
  {
    db,
    provider: benchGateway(),
    bills: {
      async tradeBill() {
        return { kind: 'bill', entries: timed(billEntryStream(openTradeBill(zip))) };
      },
    },
  },
  date,
);
const totalMs = performance.now() - t0;
const totalCpuMs = cpu() - cpu0;
// Linux: the process's high-water mark of resident memory.
const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
const peakRss = hwm ? Number(hwm[1]) * 1024 : process.memoryUsage().rss;
if (result.kind !== 'done') throw new Error('expected a run');
const run = await getReconciliationRun(db, date);
const kinds = new Map<string, number>();
for (const d of run.differences) kinds.set(d.kind, (kinds.get(d.kind) ?? 0) + 1);
await db.$disconnect();
console.log(
  JSON.stringify({
    matched: result.run.matched.payments.count,
    matchedRefunds: result.run.matched.refunds.count,
    differences: result.run.differenceCount,
    kinds: [...kinds].map(([k, n]) => `${k} ${n}`).join(', '),
    readMs,
    totalMs,
    totalCpuMs,
    peakRss,
    startRss,
  }),
);
