// Mixed load against one shop instance and against two, side by side in one run: 80 % browse
// (catalog, search and goods pages), 15 % buy (POST /orders as 200 returning shoppers, each with
// its session and CSRF token), 5 % notify (distinct valid signed notifications, each sent once).
// Each setup is compiled processes (node dist/src/main.js) on its own database of one PostgreSQL;
// the two instances share theirs and SESSION_SECRET, and wrk drives them from one process
// (thread i → instance i % 2). Warm-up, then rounds alternating between the setups.
//
//   npm run bench:mixed
//   BENCH_WARMUP=3 BENCH_DURATION=10 BENCH_ROUNDS=3 BENCH_CONNECTIONS=50 BENCH_THREADS=2 (defaults)
//   BENCH_DATABASE_URL   an existing PostgreSQL (databases bench_mixed_* are created there) instead of embedded
//   BENCH_SKIP_BUILD=1   reuse dist/        BENCH_MAX_RPS=3000   notifications signed per setup-second ÷ 20
//   SHOP_<NAME>=value    passes <NAME>=value to the shops (e.g. SHOP_DATABASE_POOL_SIZE=20)
// Needs wrk on PATH (Debian: apt-get install wrk).
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres/index.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { APP_ID, benchKeys, build, HARNESS, median, notifications, num, requireWrk, ROOT, SELLER_ID, SESSION_SECRET, sql, TICKS } from './harness/common.js';

const WARMUP = num('BENCH_WARMUP', 3);
const DURATION = num('BENCH_DURATION', 10);
const ROUNDS = num('BENCH_ROUNDS', 3);
const CONNECTIONS = num('BENCH_CONNECTIONS', 50);
const THREADS = num('BENCH_THREADS', 2);
const SETUPS = [
  { name: '1 instance', instances: 1 },
  { name: '2 instances', instances: 2 },
];

requireWrk();
if (THREADS % 2 !== 0) {
  console.error('BENCH_THREADS must be even: wrk threads are split evenly between the two instances.');
  process.exit(1);
}

build();

// ---- keys and signed notifications: the same cache as bench/run.ts -------------------------------
const keys = benchKeys();


// ---- processes and CPU ---------------------------------------------------------------------------
function cpuTicks(rootPids: (number | undefined)[]): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(entry), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const queue = rootPids.filter((p): p is number => p !== undefined);
  if (!queue.length) return NaN;
  while (queue.length) {
    const pid = queue.pop()!;
    total += stats.get(pid)?.ticks ?? 0;
    for (const [child, s] of stats) if (s.ppid === pid) queue.push(child);
  }
  return total;
}

interface Server {
  port: number;
  child: ChildProcess;
}
let nextPort = 3900 + Math.floor(Math.random() * 200);
const running: Server[] = [];

async function startShop(label: string, databaseUrl: string, runDir: string): Promise<Server> {
  const port = nextPort++;
  const log = path.join(runDir, `${label}.log`);
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH!,
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      SESSION_SECRET,
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
      ALIPAY_APP_ID: APP_ID,
      ALIPAY_SELLER_ID: SELLER_ID,
      ALIPAY_APP_PRIVATE_KEY: keys.app.privateKey,
      ALIPAY_PUBLIC_KEY: keys.alipay.publicKey,
      ALIPAY_GATEWAY: 'https://openapi.alipay.invalid/gateway.do',
      // Guest orders send no mail; production requires the setting.
      SMTP_URL: 'smtp://127.0.0.1:9',
      // All the load comes from one address and 200 sessions; real shoppers are many.
      ORDERS_PER_SESSION_PER_10_MIN: '100000',
      ORDERS_PER_IP_PER_10_MIN: '1000000',
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('SHOP_')).map(([k, v]) => [k.slice(5), v!])),
      PORT: String(port),
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
  });
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${label} exited (${child.exitCode}); see ${log}:\n${readFileSync(log, 'utf8').slice(-2000)}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) {
        const server = { port, child };
        running.push(server);
        return server;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${label} did not become ready; see ${log}`);
}

async function stopAll() {
  await Promise.all(
    running.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.child.exitCode !== null) return resolve();
          const force = setTimeout(() => s.child.kill('SIGKILL'), 15_000);
          s.child.once('exit', () => {
            clearTimeout(force);
            resolve();
          });
          s.child.kill('SIGTERM');
        }),
    ),
  );
}


// ---- set-up of one setup's database and shops ------------------------------------------------------
interface Setup {
  name: string;
  url: string;
  servers: Server[];
  files: { browse: string; shoppers: string; cookie: string };
  offset: number;
  ordersBefore: number;
}

async function prepare(name: string, instances: number, databaseUrl: string, runDir: string, outTradeNos: string[]): Promise<Setup> {
  await migrateDatabase(databaseUrl);
  await sql(databaseUrl, `INSERT INTO goods (name, description, price_fen, image_path, updated_at)
    SELECT 'Bench goods ' || i, 'A thing to buy, number ' || i || '.', 1990, '/static/goods/cup.svg', now() FROM generate_series(1, 60) AS i`);
  await sql(databaseUrl, `INSERT INTO orders (out_trade_no, total_fen, subject, expires_at, updated_at)
    SELECT n, 1990, 'bench', now() + interval '1 day', now() FROM unnest($1::text[]) AS n`, [outTradeNos]);
  const slug = name.replace(/\W/g, '');
  const servers: Server[] = [];
  for (let i = 0; i < instances; i++) servers.push(await startShop(`${slug}-${i + 1}`, databaseUrl, runDir));
  const base = `http://127.0.0.1:${servers[0]!.port}`;
  const goodsIds = (await sql<{ id: number }>(databaseUrl, 'SELECT id FROM goods ORDER BY id')).map((g) => g.id);
  // Browsing: the catalog's pages, a search, and goods pages.
  const browse = ['/', '/', '/?page=2', '/?q=goods+1', ...goodsIds.slice(0, 16).map((id) => `/goods/${id}`)];
  // Shoppers: each has the CSRF cookie and a session (one earlier order), valid on every instance.
  const lines: string[] = [];
  let visitorCookie = '';
  for (let i = 0; i < 200; i++) {
    const page = await fetch(`${base}/`, { redirect: 'manual' });
    const csrfCookie = page.headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.startsWith('shop.csrf='))!;
    visitorCookie ||= csrfCookie;
    const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const body = `_csrf=${encodeURIComponent(token)}&goodsId=${goodsIds[i % 20]}&quantity=1`;
    const first = await fetch(`${base}/orders`, { method: 'POST', redirect: 'manual', headers: { cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' }, body });
    if (first.status !== 303) throw new Error(`setting up a shopper: POST /orders answered ${first.status}: ${(await first.text()).slice(0, 300)}`);
    const sid = first.headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.startsWith('shop.sid='));
    lines.push(`${[csrfCookie, sid].filter(Boolean).join('; ')}\t${body}`);
  }
  const files = { browse: path.join(runDir, `${slug}-browse.txt`), shoppers: path.join(runDir, `${slug}-shoppers.txt`), cookie: visitorCookie };
  writeFileSync(files.browse, browse.join('\n') + '\n');
  writeFileSync(files.shoppers, lines.join('\n') + '\n');
  const ordersBefore = (await sql<{ n: number }>(databaseUrl, 'SELECT count(*)::int AS n FROM order_items'))[0]!.n;
  return { name, url: databaseUrl, servers, files, offset: 0, ordersBefore };
}

// ---- load ----------------------------------------------------------------------------------------
interface Round {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx3xx: number;
  requests: number;
  serverCpu: number;
  dbCpu: number;
}

function wrk(setup: Setup, seconds: number, script: string, notificationsFile: string): Promise<Round & { sentPerThread: number }> {
  const hosts = setup.servers.map((s) => `127.0.0.1:${s.port}`).join(',');
  return new Promise((resolve, reject) => {
    const child = spawn(
      'wrk',
      [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, '--timeout', '10s', '--latency', '-s', script, `http://127.0.0.1:${setup.servers[0]!.port}/`, '--',
        setup.files.browse, setup.files.shoppers, notificationsFile, String(setup.offset), String(THREADS), setup.files.cookie],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MIXED_HOSTS: hosts } },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', () => {
      const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
      if (!line) return reject(new Error(`wrk printed no result:\n${out}`));
      const j = JSON.parse(line.slice(9)) as Record<string, number>;
      resolve({
        rps: j.requests! / (j.duration_us! / 1e6),
        p50: j.p50_us! / 1000,
        p99: j.p99_us! / 1000,
        errors: j.connect! + j.read! + j.write! + j.timeout!,
        non2xx3xx: j.status!,
        requests: j.requests!,
        serverCpu: NaN,
        dbCpu: NaN,
        sentPerThread: j.max_sent_per_thread!,
      });
    });
  });
}

async function measure(setup: Setup, seconds: number, script: string, notificationsFile: string, dbPid: number | undefined): Promise<Round> {
  const pids = setup.servers.map((s) => s.child.pid);
  const s0 = cpuTicks(pids);
  const d0 = cpuTicks([dbPid]);
  const t0 = performance.now();
  const r = await wrk(setup, seconds, script, notificationsFile);
  const elapsed = (performance.now() - t0) / 1000;
  r.serverCpu = ((cpuTicks(pids) - s0) / TICKS / elapsed) * 100;
  r.dbCpu = ((cpuTicks([dbPid]) - d0) / TICKS / elapsed) * 100;
  setup.offset += THREADS * r.sentPerThread;
  return r;
}


// ---- main ----------------------------------------------------------------------------------------
const runDir = await mkdtemp(path.join(os.tmpdir(), 'shop-bench-mixed-'));
await chmod(runDir, 0o755); // embedded PostgreSQL runs as the postgres user when we are root
let stopDatabase = async () => {};
let dbPid: number | undefined;
const databaseUrl = async (name: string): Promise<string> => {
  const external = process.env.BENCH_DATABASE_URL;
  const base = external ?? (await embedded()).url('postgres');
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "bench_mixed_${name}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "bench_mixed_${name}"`);
  await admin.end();
  const previous = stopDatabase;
  stopDatabase = async () => {
    await stopAll();
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "bench_mixed_${name}" WITH (FORCE)`);
    await c.end();
    await previous();
  };
  return Object.assign(new URL(base), { pathname: `/bench_mixed_${name}` }).toString();
};
let embeddedServer: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
async function embedded() {
  if (!embeddedServer) {
    const dir = path.join(runDir, 'postgres');
    embeddedServer = await startEmbeddedPostgres({ dir, settings: { synchronous_commit: process.env.BENCH_PG_SYNCHRONOUS_COMMIT ?? 'off' }, log: () => {}, warn: () => {} });
    dbPid = Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const server = embeddedServer;
    const previous = stopDatabase;
    stopDatabase = async () => {
      await previous();
      await server.stop();
    };
  }
  return embeddedServer;
}
if (process.env.BENCH_DATABASE_PID) dbPid = Number(process.env.BENCH_DATABASE_PID);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: stopping the shops and the database`);
    void stopAll().then(() => stopDatabase()).finally(() => process.exit(130));
  });
}

let exitCode = 0;
try {
  const perSetup = Math.ceil(((WARMUP + DURATION * ROUNDS) * num('BENCH_MAX_RPS', 3000)) / 20 + CONNECTIONS * (ROUNDS + 1));
  const { file: notificationsFile, outTradeNos } = await notifications(perSetup);
  const script = path.join(runDir, 'mixed.lua');
  writeFileSync(script, readFileSync(path.join(HARNESS, 'mixed.lua'), 'utf8') + '\n' + readFileSync(path.join(HARNESS, 'report.lua'), 'utf8'));
  const setups: Setup[] = [];
  for (const s of SETUPS) setups.push(await prepare(s.name, s.instances, await databaseUrl(s.name.replace(/\W/g, '')), runDir, outTradeNos));

  console.log(`\n${os.cpus().length} cores (${os.cpus()[0]?.model}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; wrk -t${THREADS} -c${CONNECTIONS} (one process; with 2 instances, half the threads and connections each), warm-up ${WARMUP}s, ${ROUNDS} rounds of ${DURATION}s alternating; database ${process.env.BENCH_DATABASE_URL ? 'external' : 'embedded PostgreSQL'}; run folder ${runDir}`);
  for (const s of setups) {
    process.stdout.write(`  warm-up ${s.name} ${WARMUP}s… `);
    console.log(`${(await measure(s, WARMUP, script, notificationsFile, dbPid)).rps.toFixed(0)}/s`);
  }
  const results = new Map<string, Round[]>(setups.map((s) => [s.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of round % 2 === 0 ? setups : [...setups].reverse()) {
      const r = await measure(s, DURATION, script, notificationsFile, dbPid);
      results.get(s.name)!.push(r);
      console.log(`  round ${round + 1} ${s.name.padEnd(12)} ${r.rps.toFixed(0).padStart(6)}/s  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  shop CPU ${r.serverCpu.toFixed(0)}%  db CPU ${r.dbCpu.toFixed(0)}%  non-2xx/3xx ${r.non2xx3xx}  errors ${r.errors}`);
    }
  }

  const head = ['setup', 'req/s median (min–max)', 'browse / buy / notify per s', 'p50 ms', 'p99 ms', 'errors (timeout 10 s)', 'non-2xx/3xx', 'shop CPU (all its processes)', 'db CPU', 'orders placed · notifications applied (whole run)'];
  const rows: string[][] = [];
  for (const s of setups) {
    const rs = results.get(s.name)!;
    const rps = rs.map((r) => r.rps);
    const m = median(rps);
    const [check] = await sql<{ items: number; paid: number; applied: number }>(
      s.url,
      `SELECT (SELECT count(*)::int FROM order_items) AS items, (SELECT count(*)::int FROM orders WHERE status = 'PAID') AS paid,
              (SELECT count(*)::int FROM payment_events WHERE outcome = 'applied') AS applied`,
    );
    const reused = s.offset > outTradeNos.length ? `, ${s.offset - outTradeNos.length} notifications re-sent (raise BENCH_MAX_RPS)` : '';
    rows.push([
      `${s.name}`,
      `${m.toFixed(0)} (${Math.min(...rps).toFixed(0)}–${Math.max(...rps).toFixed(0)})`,
      `${((m * 16) / 20).toFixed(0)} / ${((m * 3) / 20).toFixed(0)} / ${(m / 20).toFixed(0)}`,
      median(rs.map((r) => r.p50)).toFixed(1),
      median(rs.map((r) => r.p99)).toFixed(1),
      String(rs.reduce((a, r) => a + r.errors, 0)),
      String(rs.reduce((a, r) => a + r.non2xx3xx, 0)),
      `${median(rs.map((r) => r.serverCpu)).toFixed(0)}%`,
      Number.isNaN(rs[0]!.dbCpu) ? 'n/a' : `${median(rs.map((r) => r.dbCpu)).toFixed(0)}%`,
      `${check!.items - s.ordersBefore} · ${check!.applied} (PAID ${check!.paid}${check!.paid === check!.applied ? ' ✓' : ' ✗'}; ~${Math.round(s.offset)} sent${reused})`,
    ]);
  }
  console.log('\n### mixed load: 80 % browse, 15 % buy, 5 % notify — one shop process vs two on the same PostgreSQL\n');
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  const [one, two] = setups.map((s) => median(results.get(s.name)!.map((r) => r.rps)));
  console.log(`\n2 instances ÷ 1 instance: ${(two! / one!).toFixed(2)}× throughput (this machine has ${os.cpus().length} cores shared by wrk, the shops and PostgreSQL).`);
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  await stopAll();
  await stopDatabase();
  if (process.env.BENCH_KEEP !== '1') await rm(runDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  else console.log(`kept ${runDir}`);
}
process.exit(exitCode);
