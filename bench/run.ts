// Measures like an outsider: builds, starts each contender as its own compiled process on one
// PostgreSQL, drives it with wrk (another process), warm-up then rounds alternating between the
// contenders, and prints one table per scenario with the database check after the run.
//
//   npm run bench                      every scenario
//   npm run bench:notify | bench:purchase | bench:catalog
//   BENCH_WARMUP=5 BENCH_DURATION=20 BENCH_ROUNDS=3 BENCH_CONNECTIONS=50 BENCH_THREADS=2 (the issue's run)
//   BENCH_INSTANCES=2    also runs the shop as two node:cluster workers ("shop×2")
//   BENCH_DATABASE_URL   an existing PostgreSQL (databases bench_* are created there) instead of embedded
//   BENCH_LOG_LEVEL=info the shop's and the baselines' log level (both log each request at info)
//   BENCH_PROFILE=1      the shop runs under node --cpu-prof (profiles in the run's folder)
//   BENCH_NODE_FLAGS="--trace-gc"  extra node flags for every contender (output lands in <name>.log)
//   BENCH_KEEP=1         keep the run's folder (logs, wrk scripts) for a look afterwards
//   BENCH_SKIP_BUILD=1   reuse dist/
//   BENCH_BEFORE_ROOT=<folder>  also runs the shop built there (e.g. an older commit, built with
//                        tsc -p tsconfig.bench.json) as contender "before", for before/after in one run
//   SHOP_<NAME>=value    passes <NAME>=value to the shop (e.g. SHOP_DATABASE_POOL_SIZE=20)
//   BENCH_FLOOR=0        leave out the "floor" row of notify and purchase: a bare node:http server spending the
//                        shop's own CPU per request (bench/baselines/floor.ts), the p99 this machine allows
//   BENCH_MAX_RPS=1500   notifications signed per contender-second (each is sent once; cached in bench/.cache)
// Needs wrk on PATH (Debian: apt-get install wrk).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded-postgres/index.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { APP_ID, benchKeys, build, HARNESS, median, notifications, num, requireWrk, ROOT, SELLER_ID, SESSION_SECRET, sql, TICKS } from './harness/common.js';

const WARMUP = num('BENCH_WARMUP', 5);
const DURATION = num('BENCH_DURATION', 5);
const ROUNDS = num('BENCH_ROUNDS', 3);
const CONNECTIONS = num('BENCH_CONNECTIONS', 50);
const THREADS = num('BENCH_THREADS', 2);
const INSTANCES = num('BENCH_INSTANCES', 1);
const PROFILE = process.env.BENCH_PROFILE === '1';
const BEFORE_ROOT = process.env.BENCH_BEFORE_ROOT;
const FLOOR = process.env.BENCH_FLOOR !== '0';
const GATEWAY = 'https://openapi.alipay.invalid/gateway.do';

type Scenario = 'notify' | 'purchase' | 'catalog';
const wanted = (process.argv.slice(2).length ? process.argv.slice(2) : ['notify', 'purchase', 'catalog']) as Scenario[];

requireWrk();

// ---- build -------------------------------------------------------------------------------------
build();

// ---- keys and signed notifications (cached: RSA signing is the slow part) ----------------------
const keys = benchKeys();


// ---- CPU of a process tree from /proc ----------------------------------------------------------
function cpuTicks(rootPid: number | undefined, which: 'all' | 'sys' = 'all'): number {
  if (!rootPid) return NaN;
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = which === 'sys' ? Number(f[12]) + Number(f[14]) : Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // own + reaped children's
      stats.set(Number(entry), { ppid: Number(f[1]), ticks });
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const queue = [rootPid];
  while (queue.length) {
    const pid = queue.pop()!;
    total += stats.get(pid)?.ticks ?? 0;
    for (const [child, s] of stats) if (s.ppid === pid) queue.push(child);
  }
  return total;
}

// ---- database ----------------------------------------------------------------------------------
interface Database {
  url(name: string): string;
  pid: number | undefined;
  stop(): Promise<void>;
}

async function openDatabase(runDir: string): Promise<Database> {
  const external = process.env.BENCH_DATABASE_URL;
  if (external) {
    const created: string[] = [];
    const admin = new pg.Client({ connectionString: external });
    await admin.connect();
    return {
      pid: process.env.BENCH_DATABASE_PID ? Number(process.env.BENCH_DATABASE_PID) : undefined,
      url(name) {
        const u = new URL(external);
        u.pathname = `/bench_${name}`;
        created.push(`bench_${name}`);
        return u.toString();
      },
      async stop() {
        for (const name of created) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await admin.end();
      },
    };
  }
  const dir = path.join(runDir, 'postgres');
  // The shared VM's disk makes every fsync a lottery ticket drawn against other people's I/O: commits
  // skip waiting for the WAL flush (all the work is still done) unless asked otherwise.
  const settings = { synchronous_commit: process.env.BENCH_PG_SYNCHRONOUS_COMMIT ?? 'off' };
  const server: EmbeddedPostgres = await startEmbeddedPostgres({ dir, settings, log: () => {}, warn: () => {} });
  const pid = Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return { pid, url: (name) => server.url(name), stop: () => server.stop() };
}

async function freshDatabase(db: Database, name: string): Promise<string> {
  const url = db.url(name);
  const admin = new pg.Client({ connectionString: Object.assign(new URL(url), { pathname: '/postgres' }).toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${new URL(url).pathname.slice(1)}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${new URL(url).pathname.slice(1)}"`);
  await admin.end();
  await migrateDatabase(url);
  return url;
}


const GOODS = 24;
async function seedGoods(url: string) {
  await sql(
    url,
    `INSERT INTO goods (name, description, price_fen, image_path, updated_at)
     SELECT 'Bench goods ' || i, 'A thing to buy, number ' || i || '.', 1990, '/static/goods/cup.svg', now() FROM generate_series(1, $1) AS i`,
    [GOODS],
  );
}

// ---- contenders (each its own process) -----------------------------------------------------------
interface Server {
  name: string;
  url: string;
  pid: number;
  child: ChildProcess;
}
let nextPort = 3700 + Math.floor(Math.random() * 200);
const runningServers: Server[] = [];

async function startServer(name: string, args: string[], env: Record<string, string>, runDir: string, cwd = ROOT): Promise<Server> {
  const port = nextPort++;
  const log = path.join(runDir, `${name}.log`);
  const out = openSync(log, 'a');
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...flags, ...args], {
    cwd,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', out, out],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}); see ${log}:\n${readFileSync(log, 'utf8').slice(-2000)}`);
    try {
      // The shop answers /readyz 503 while it starts (database, seed); the baselines answer 404 once listening.
      const ready = await fetch(`${url}/readyz`);
      if (ready.status === 503) throw new Error('starting');
      const server = { name, url, pid: child.pid!, child };
      runningServers.push(server);
      return server;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${name} did not start listening; see ${log}`);
}

function shopEnv(databaseUrl: string, port: number): Record<string, string> {
  return {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    SESSION_SECRET,
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    ALIPAY_APP_ID: APP_ID,
    ALIPAY_SELLER_ID: SELLER_ID,
    ALIPAY_APP_PRIVATE_KEY: keys.app.privateKey,
    ALIPAY_PUBLIC_KEY: keys.alipay.publicKey,
    ALIPAY_GATEWAY: GATEWAY,
    // Required in production; nothing is mailed here (guest orders have no address), nothing listens there.
    SMTP_URL: 'smtp://127.0.0.1:1',
    // Every request comes from 127.0.0.1 and 200 shoppers order non-stop: the limits still count
    // (the same statement runs), but must not turn the run into a measurement of 429 answers.
    ORDERS_PER_SESSION_PER_10_MIN: '100000',
    ORDERS_PER_IP_PER_10_MIN: '1000000',
    // SHOP_<NAME>=value in the harness's environment reaches the shop as <NAME>=value.
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('SHOP_')).map(([k, v]) => [k.slice(5), v!])),
  };
}

function baselineEnv(databaseUrl: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    DATABASE_URL: databaseUrl,
    ALIPAY_APP_ID: APP_ID,
    ALIPAY_APP_PRIVATE_KEY: keys.app.privateKey,
    ALIPAY_PUBLIC_KEY: keys.alipay.publicKey,
    ALIPAY_GATEWAY: GATEWAY,
  };
}

async function startShop(name: string, databaseUrl: string, runDir: string, instances: number): Promise<Server> {
  const port = nextPort;
  const profile = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${path.join(runDir, `profile-${name}`)}`] : [];
  const root = name === 'before' && BEFORE_ROOT ? path.resolve(BEFORE_ROOT) : ROOT;
  const entry = instances > 1 ? [path.join(HARNESS, 'cluster.mjs'), String(instances)] : [path.join(root, 'dist/src/main.js')];
  return startServer(name, [...profile, ...entry], shopEnv(databaseUrl, port), runDir, root);
}

// ---- load --------------------------------------------------------------------------------------
interface RoundResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx3xx: number;
  serverCpu: number;
  dbCpu: number;
  serverMsPerReq: number;
  /** Share of the server's CPU time spent in the kernel (sockets, loopback TCP). */
  serverSysShare: number;
  dbMsPerReq: number;
  sentPerThread: number;
  requests: number;
}

function wrk(url: string, seconds: number, script: string, args: string[]): Promise<RoundResult & { raw: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-s', script, url, '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
        serverCpu: NaN,
        dbCpu: NaN,
        serverMsPerReq: NaN,
        serverSysShare: NaN,
        dbMsPerReq: NaN,
        sentPerThread: j.max_sent_per_thread!,
        requests: j.requests!,
        raw: out,
      });
    });
  });
}

interface Contender {
  server: Server;
  /** wrk script and its arguments for the next run; `after` learns what was sent. */
  load(): { script: string; args: string[]; path: string };
  after?(r: RoundResult): void;
}

async function measure(c: Contender, seconds: number, dbPid: number | undefined): Promise<RoundResult> {
  const { script, args, path: p } = c.load();
  const s0 = cpuTicks(c.server.pid);
  const sys0 = cpuTicks(c.server.pid, 'sys');
  const d0 = cpuTicks(dbPid);
  const t0 = performance.now();
  const r = await wrk(c.server.url + p, seconds, script, args);
  const elapsed = (performance.now() - t0) / 1000;
  r.serverCpu = ((cpuTicks(c.server.pid) - s0) / TICKS / elapsed) * 100;
  r.serverSysShare = (cpuTicks(c.server.pid, 'sys') - sys0) / Math.max(1, cpuTicks(c.server.pid) - s0);
  r.dbCpu = ((cpuTicks(dbPid) - d0) / TICKS / elapsed) * 100;
  // CPU time per answered request: robust when other people's processes compete for the cores.
  r.serverMsPerReq = ((cpuTicks(c.server.pid) - s0) / TICKS) * 1000 / Math.max(1, r.requests);
  r.dbMsPerReq = ((cpuTicks(dbPid) - d0) / TICKS) * 1000 / Math.max(1, r.requests);
  c.after?.(r);
  if (c.server.name === 'shop') shopCost = { server: r.serverMsPerReq, db: Number.isFinite(r.dbMsPerReq) ? r.dbMsPerReq : 0 };
  return r;
}

/** The shop's CPU per request in its latest round (warm-up included): server and database. */
let shopCost = { server: 1, db: 0 };

/**
 * The floor contender (bench/baselines/floor.ts): spends the shop's latest CPU per request, in the
 * server and in PostgreSQL. What a burnt millisecond costs drifts with the machine's load, so each
 * side's scale is corrected after every floor round (warm-up included) towards the shop's figure;
 * the table shows both rows' CPU ms/req to compare.
 */
async function floorContender(runDir: string, databaseUrl: string, load: () => { script: string; args: string[] }): Promise<Contender> {
  const server = await startServer('floor', ['dist/bench/baselines/floor.js'], { NODE_ENV: 'production', DATABASE_URL: databaseUrl }, runDir);
  const scale = { server: 1, db: 1 };
  let target = { ...shopCost };
  const correct = (side: 'server' | 'db', measured: number) => {
    if (!(measured > 0) || !(target[side] > 0)) return;
    scale[side] *= Math.min(2, Math.max(0.5, Math.sqrt(target[side] / measured)));
  };
  return {
    server,
    load: () => {
      target = { ...shopCost };
      return { ...load(), path: `/?ms=${(target.server * scale.server).toFixed(3)}&db=${(target.db * scale.db).toFixed(3)}` };
    },
    after: (r) => {
      correct('server', r.serverMsPerReq);
      correct('db', r.dbMsPerReq);
    },
  };
}

function scriptWithReport(name: string, runDir: string): string {
  const file = path.join(runDir, `${name}.lua`);
  if (!existsSync(file)) writeFileSync(file, readFileSync(path.join(HARNESS, `${name}.lua`), 'utf8') + '\n' + readFileSync(path.join(HARNESS, 'report.lua'), 'utf8'));
  return file;
}

/** Successful answers per contender, warm-up included (for the database check). */
const answered = new Map<string, number>();

async function runRounds(title: string, contenders: Contender[], dbPid: number | undefined) {
  for (const c of contenders) {
    process.stdout.write(`  warm-up ${c.server.name} ${WARMUP}s… `);
    const r = await measure(c, WARMUP, dbPid);
    answered.set(c.server.name, r.requests - r.non2xx3xx);
    console.log(`${r.rps.toFixed(0)}/s`);
  }
  const results = new Map<string, RoundResult[]>(contenders.map((c) => [c.server.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of order) {
      const r = await measure(c, DURATION, dbPid);
      results.get(c.server.name)!.push(r);
      answered.set(c.server.name, (answered.get(c.server.name) ?? 0) + r.requests - r.non2xx3xx);
      console.log(`  round ${round + 1} ${c.server.name.padEnd(14)} ${r.rps.toFixed(0).padStart(6)}/s  p99 ${r.p99.toFixed(1)} ms  server ${r.serverCpu.toFixed(0)}% (${r.serverMsPerReq.toFixed(2)} ms/req, ${(r.serverSysShare * 100).toFixed(0)}% kernel)  db ${r.dbCpu.toFixed(0)}% (${r.dbMsPerReq.toFixed(2)} ms/req)`);
    }
  }
  printTable(title, contenders[0]!.server.name, results);
  if (results.has('floor')) console.log(`floor: a bare node:http server spending the shop's CPU per request in 4 slices${dbPid ? ' and its database CPU per request in one query' : ' (database CPU not measured on an external server: none spent)'}, the same work every time: the p50/p99 this machine gives any single process at that cost and this concurrency.\n`);
  return results;
}


function printTable(title: string, reference: string, results: Map<string, RoundResult[]>) {
  const ref = results.get(reference)!;
  const rows = [['contender', 'req/s median (min–max)', 'p50 ms', 'p99 ms', 'errors', 'non-2xx/3xx', `${reference} ÷ this, per round`, 'server CPU', 'db CPU', 'CPU ms/req server + db']];
  for (const [name, rs] of results) {
    const rps = rs.map((r) => r.rps);
    rows.push([
      name,
      `${median(rps).toFixed(0)} (${Math.min(...rps).toFixed(0)}–${Math.max(...rps).toFixed(0)})`,
      median(rs.map((r) => r.p50)).toFixed(1),
      median(rs.map((r) => r.p99)).toFixed(1),
      String(rs.reduce((s, r) => s + r.errors, 0)),
      String(rs.reduce((s, r) => s + r.non2xx3xx, 0)),
      name === reference ? '—' : rs.map((r, i) => `${(ref[i]!.rps / r.rps).toFixed(2)}×`).join(' '),
      `${median(rs.map((r) => r.serverCpu)).toFixed(0)}%`,
      Number.isNaN(rs[0]!.dbCpu) ? 'n/a' : `${median(rs.map((r) => r.dbCpu)).toFixed(0)}%`,
      `${median(rs.map((r) => r.serverMsPerReq)).toFixed(2)} + ${Number.isNaN(rs[0]!.dbCpu) ? 'n/a' : median(rs.map((r) => r.dbMsPerReq)).toFixed(2)}`,
    ]);
  }
  console.log(`\n### ${title}\n`);
  console.log(`| ${rows[0]!.join(' | ')} |`);
  console.log(`|${rows[0]!.map(() => '---').join('|')}|`);
  for (const row of rows.slice(1)) console.log(`| ${row.join(' | ')} |`);
  console.log('');
}

// ---- scenarios ---------------------------------------------------------------------------------
async function notifyScenario(db: Database, runDir: string, shopNames: [string, number][]) {
  // Every contender gets the same orders and the same signed notifications, each sent once.
  const perContender = Math.ceil((WARMUP + DURATION * ROUNDS) * num('BENCH_MAX_RPS', 1500) + CONNECTIONS * THREADS * (ROUNDS + 1));
  const { file, outTradeNos } = await notifications(perContender);
  const names = [...shopNames.map(([n]) => n), 'typical', 'lean'];
  const contenders: Contender[] = [];
  const urls = new Map<string, string>();
  const offsets = new Map<string, number>();
  const script = scriptWithReport('once', runDir);
  for (const name of names) {
    const url = await freshDatabase(db, `notify_${name.replace(/\W/g, '')}`);
    urls.set(name, url);
    await sql(url, `INSERT INTO orders (out_trade_no, total_fen, subject, expires_at, updated_at)
                    SELECT n, 1990, 'bench', now() + interval '1 day', now() FROM unnest($1::text[]) AS n`, [outTradeNos]);
    const instances = shopNames.find(([n]) => n === name)?.[1];
    const server = instances
      ? await startShop(name, url, runDir, instances)
      : await startServer(name, [`dist/bench/baselines/${name}.js`], baselineEnv(url), runDir);
    offsets.set(name, 0);
    contenders.push({
      server,
      load: () => ({ script, args: [file, String(offsets.get(name)), String(THREADS)], path: '/alipay/notify' }),
      after: (r) => offsets.set(name, offsets.get(name)! + THREADS * r.sentPerThread),
    });
  }
  if (FLOOR) contenders.push(await floorContender(runDir, urls.get('shop')!, () => ({ script, args: [file, '0', String(THREADS)] })));
  const results = await runRounds('notify: distinct valid notifications (POST /alipay/notify)', contenders, db.pid);
  console.log('database check after the run (answered "success" counts only responses wrk saw; requests cut by wrk stopping at a round end are not counted):');
  for (const name of names) {
    const [row] = await sql<{ paid: number; applied: number; events: number }>(
      urls.get(name)!,
      `SELECT (SELECT count(*)::int FROM orders WHERE status = 'PAID') AS paid,
              (SELECT count(*)::int FROM payment_events WHERE outcome = 'applied') AS applied,
              (SELECT count(*)::int FROM payment_events) AS events`,
    );
    const ok = answered.get(name)!;
    const sent = offsets.get(name)!;
    const exhausted = sent > outTradeNos.length ? `  WARNING: ${sent - outTradeNos.length} sends reused notifications (raise the cache)` : '';
    console.log(`  ${name.padEnd(10)} PAID orders ${row!.paid}   applied events ${row!.applied} (all events ${row!.events})   ${row!.paid === row!.applied ? 'PAID = applied ✓' : 'PAID ≠ applied ✗'}   answered success ${ok}${exhausted}`);
  }
  return results;
}

async function shoppersFor(server: Server, count: number, goodsIds: number[]): Promise<string[]> {
  // Returning shoppers: each has the CSRF cookie and a session (one earlier order), like a browser.
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const page = await fetch(`${server.url}/`, { redirect: 'manual' });
    const csrfCookie = page.headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.startsWith('shop.csrf='))!;
    const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const goodsId = goodsIds[i % goodsIds.length]!;
    const body = `_csrf=${encodeURIComponent(token)}&goodsId=${goodsId}&quantity=1`;
    const first = await fetch(`${server.url}/orders`, { method: 'POST', redirect: 'manual', headers: { cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' }, body });
    if (first.status !== 303) throw new Error(`setting up a shopper: POST /orders answered ${first.status}: ${(await first.text()).slice(0, 300)}`);
    const sid = first.headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.startsWith('shop.sid='));
    lines.push(`${[csrfCookie, sid].filter(Boolean).join('; ')}\t${body}`);
  }
  return lines;
}

async function purchaseScenario(db: Database, runDir: string, shopNames: [string, number][]) {
  const names = [...shopNames.map(([n]) => n), 'typical', 'lean'];
  const contenders: Contender[] = [];
  const urls = new Map<string, string>();
  const before = new Map<string, number>();
  const script = scriptWithReport('cycle', runDir);
  for (const name of names) {
    const url = await freshDatabase(db, `purchase_${name.replace(/\W/g, '')}`);
    urls.set(name, url);
    await seedGoods(url);
    const goodsIds = (await sql<{ id: number }>(url, 'SELECT id FROM goods ORDER BY id LIMIT 20')).map((g) => g.id);
    const instances = shopNames.find(([n]) => n === name)?.[1];
    const server = instances
      ? await startShop(name, url, runDir, instances)
      : await startServer(name, [`dist/bench/baselines/${name}.js`], baselineEnv(url), runDir);
    const lines = instances
      ? await shoppersFor(server, 200, goodsIds)
      : goodsIds.map((id) => `\tgoodsId=${id}&quantity=1`);
    const file = path.join(runDir, `purchase-${name}.txt`);
    writeFileSync(file, lines.join('\n') + '\n');
    before.set(name, Number((await sql<{ n: number }>(url, 'SELECT count(*)::int AS n FROM orders'))[0]!.n));
    contenders.push({ server, load: () => ({ script, args: [file], path: '/orders' }) });
  }
  if (FLOOR) contenders.push(await floorContender(runDir, urls.get('shop')!, () => ({ script, args: [path.join(runDir, 'purchase-shop.txt')] })));
  const results = await runRounds('purchase: POST /orders → 303 to Alipay page pay (shop with session + CSRF; baselines without)', contenders, db.pid);
  console.log('database check after the run (orders created = 303s answered, ± requests cut at round ends):');
  for (const name of names) {
    const [row] = await sql<{ orders: number; items: number; sessions: number }>(
      urls.get(name)!,
      `SELECT (SELECT count(*)::int FROM orders) AS orders, (SELECT count(*)::int FROM order_items) AS items, (SELECT count(*)::int FROM sessions) AS sessions`,
    );
    console.log(`  ${name.padEnd(10)} orders created ${row!.orders - before.get(name)!} (items ${row!.items}, sessions ${row!.sessions})   answered 303 ${answered.get(name)}`);
  }
  return results;
}

async function catalogScenario(db: Database, runDir: string, shopNames: [string, number][]) {
  const url = await freshDatabase(db, 'catalog');
  await seedGoods(url);
  const script = scriptWithReport('get', runDir);
  const contenders: Contender[] = [];
  for (const [name, instances] of shopNames) {
    const server = await startShop(name, url, runDir, instances);
    const page = await fetch(`${server.url}/`);
    const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]!).join('; ');
    contenders.push({ server, load: () => ({ script, args: [cookie], path: '/' }) });
  }
  const bare = await startServer('catalog-bare', ['dist/bench/baselines/catalog-bare.js'], { NODE_ENV: 'production', DATABASE_URL: url }, runDir);
  contenders.push({ server: { ...bare, name: 'same template' }, load: () => ({ script, args: [''], path: '/template' }) });
  contenders.push({ server: { ...bare, name: 'bare 20 rows' }, load: () => ({ script, args: [''], path: '/bare' }) });
  const sessionsBefore = (await sql<{ n: number }>(url, 'SELECT count(*)::int AS n FROM sessions'))[0]!.n;
  const writesBefore = (await sql<{ n: number }>(url, `SELECT (n_tup_ins + n_tup_upd + n_tup_del)::int AS n FROM pg_stat_user_tables WHERE relname = 'sessions'`))[0]!.n;
  const results = await runRounds('catalog: GET / (20 goods, returning visitor with the CSRF cookie, no session)', contenders, db.pid);
  const sessionsAfter = (await sql<{ n: number }>(url, 'SELECT count(*)::int AS n FROM sessions'))[0]!.n;
  await new Promise((r) => setTimeout(r, 600)); // pg_stat is flushed at most every 500 ms
  const writesAfter = (await sql<{ n: number }>(url, `SELECT (n_tup_ins + n_tup_upd + n_tup_del)::int AS n FROM pg_stat_user_tables WHERE relname = 'sessions'`))[0]!.n;
  console.log(`database check after the run: sessions ${sessionsBefore} → ${sessionsAfter}; session rows written during the run: ${writesAfter - writesBefore}`);
  return results;
}

// ---- main --------------------------------------------------------------------------------------
async function stopAll() {
  const stopping = runningServers.splice(0).map(
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
  );
  await Promise.all(stopping);
}

const runDir = await mkdtemp(path.join(os.tmpdir(), 'shop-bench-'));
await chmod(runDir, 0o755); // embedded PostgreSQL runs as the postgres user when we are root
const db = await openDatabase(runDir);
const shopNames: [string, number][] = [['shop', 1]];
if (INSTANCES > 1) shopNames.push([`shop×${INSTANCES}`, INSTANCES]);
if (BEFORE_ROOT) shopNames.push(['before', 1]);
const loadavg = os.loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`\n${os.cpus().length} cores (${os.cpus()[0]?.model}), load average ${loadavg}; wrk -t${THREADS} -c${CONNECTIONS}, warm-up ${WARMUP}s, ${ROUNDS} rounds of ${DURATION}s alternating; database ${process.env.BENCH_DATABASE_URL ? 'external' : 'embedded PostgreSQL'}; run folder ${runDir}`);
let exitCode = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: stopping the servers and the database`);
    void stopAll().then(() => db.stop()).finally(() => process.exit(130));
  });
}
try {
  for (const scenario of wanted) {
    const fn = { notify: notifyScenario, purchase: purchaseScenario, catalog: catalogScenario }[scenario];
    if (!fn) throw new Error(`unknown scenario ${scenario} (notify, purchase, catalog)`);
    console.log(`\n== ${scenario}`);
    try {
      await fn(db, runDir, shopNames);
    } finally {
      await stopAll();
    }
  }
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  await stopAll();
  await db.stop();
  if (!PROFILE && process.env.BENCH_KEEP !== '1') await rm(runDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  else console.log(`kept ${runDir}`);
}
console.log(`load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
process.exit(exitCode);
