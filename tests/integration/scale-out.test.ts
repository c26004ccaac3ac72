import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildSignedResponse } from '../../src/alipay/index.js';
import { createDb, type Db } from '../../src/db/client.js';
import { freePort } from '../../src/db/embedded-postgres/os.js';
import { createRateLimiter } from '../../src/db/rate-limiter.js';
import { loadConfig } from '../../src/config.js';
import { PROJECT_ROOT } from '../../src/paths.js';
import { placeOrder } from '../../src/shop/orders.js';
import { alipayKeys, APP_ID, appKeys, notifyFields, NOTIFY_CONTENT_TYPE, SELLER_ID, signAsAlipay } from '../support/alipay.js';
import { findSystemPostgres, startExternalPostgres, type ExternalPostgres } from '../support/external-postgres.js';

// Several BUILT app processes (node dist/src/main.js) on one external PostgreSQL of the system's
// packages (Debian's major version; the rest of the suite runs on the embedded 18).
const system = findSystemPostgres();
const required = process.env.REQUIRE_EXTERNAL_PG === '1';
if ('missing' in system && !required) console.warn(`scale-out tests skipped: ${system.missing} (REQUIRE_EXTERNAL_PG=1 makes this a failure)`);

const SESSION_SECRET = 'scale-out-shared-session-secret-0123456789';
const METRICS_TOKEN = 'scale-out-metrics-token-0123456789';
const JOBS_TIME_SCALE = 0.02; // periodic jobs every 1.2 s instead of every minute
const JOB_PERIOD_MS = 60_000 * JOBS_TIME_SCALE;

type Answer = { status: number; text: string };

async function http(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<Answer> {
  try {
    const res = await fetch(url, { redirect: 'manual', ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 15_000) });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    return { status: 0, text: String((err as Error).cause ?? err) };
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}

/** Plays Alipay's OpenAPI gateway over HTTP for the app processes: counts calls, answers signed, or hangs, or fails. */
class FakeGateway {
  mode: 'ok' | 'slow' | 'fail' = 'ok';
  calls: { method: string; outTradeNo: string }[] = [];
  private server!: Server;
  url = '';

  async start() {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const params = new URLSearchParams(body);
        const method = params.get('method') ?? '';
        const outTradeNo = (JSON.parse(params.get('biz_content') ?? '{}') as { out_trade_no?: string }).out_trade_no ?? '';
        this.calls.push({ method, outTradeNo });
        if (this.mode === 'slow') return void setTimeout(() => res.destroyed || res.end('late'), 10_000).unref();
        if (this.mode === 'fail') return void res.writeHead(502).end('bad gateway');
        const answer =
          method === 'alipay.trade.query'
            ? { code: '10000', msg: 'Success', out_trade_no: outTradeNo, trade_no: `2026112722001${Date.now()}`, trade_status: 'WAIT_BUYER_PAY', total_amount: '12.00' }
            : { code: '10000', msg: 'Success', out_trade_no: outTradeNo };
        res.writeHead(200, { 'content-type': 'application/json;charset=utf-8' }).end(buildSignedResponse(method, answer, alipayKeys.privateKey));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/gateway.do`;
  }

  callsFor(outTradeNo: string, method: string) {
    return this.calls.filter((c) => c.outTradeNo === outTradeNo && c.method === method).length;
  }

  stop() {
    this.server.closeAllConnections();
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

class Instance {
  readonly output: string[] = [];
  child!: ChildProcess;
  constructor(readonly name: string, readonly port: number) {}

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  start(env: Record<string, string>) {
    this.child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'dist/src/main.js')], {
      cwd: env.DATA_DIR,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, PORT: String(this.port), PUBLIC_BASE_URL: this.base },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (c: Buffer) => {
      this.output.push(...c.toString().split('\n').filter(Boolean));
      this.output.splice(0, Math.max(0, this.output.length - 300));
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    return this;
  }

  get alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async ready(timeoutMs = 60_000) {
    await waitFor(`${this.name} /readyz`, async () => {
      if (!this.alive) throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.output.join('\n')}`);
      return (await http(`${this.base}/readyz`)).status === 200;
    }, timeoutMs);
    return this;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    if (!this.alive) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill(signal);
    await exited;
  }

  async metric(pattern: RegExp): Promise<number> {
    const { text } = await http(`${this.base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    let sum = 0;
    for (const line of text.split('\n')) {
      if (pattern.test(line)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }
}

/** A browser: keeps cookies (both instances are the same site) and the last page's CSRF token. */
class Browser {
  cookies = new Map<string, string>();
  token = '';
  constructor(readonly headers: Record<string, string> = {}) {}

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Answer & { location?: string }> {
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      headers: {
        ...this.headers,
        cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: init.form ? new URLSearchParams({ _csrf: this.token, ...init.form }).toString() : undefined,
      signal: AbortSignal.timeout(15_000),
    });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const i = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
    const text = await res.text();
    this.token = /name="_csrf" value="([^"]+)"/.exec(text)?.[1] ?? this.token;
    return { status: res.status, text, location: res.headers.get('location') ?? undefined };
  }
}

const notifyTo = (instance: Instance, body: string) =>
  http(`${instance.base}/alipay/notify`, { method: 'POST', headers: { 'content-type': NOTIFY_CONTENT_TYPE }, body });

describe.skipIf('missing' in system && !required)(`several app instances on an external PostgreSQL ${'major' in system ? system.major : ''}`, { timeout: 90_000 }, () => {
  let pgServer: ExternalPostgres;
  let db: Db;
  let dataDir: string;
  const gateway = new FakeGateway();
  const instances: Instance[] = [];
  let a: Instance;
  let b: Instance;
  let goodsId: number;
  let env: Record<string, string>;

  beforeAll(async () => {
    if ('missing' in system) throw new Error(`REQUIRE_EXTERNAL_PG=1 but ${system.missing}`);
    // The tests run the built app, as production does: build it (from a fresh clone too).
    const build = process.env.SCALE_SKIP_BUILD === '1' ? Promise.resolve() : run('npm', ['run', 'build', '--silent']);
    [pgServer] = await Promise.all([startExternalPostgres(), build, gateway.start()]);
    const admin = new pg.Client({ connectionString: pgServer.url('postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE shop');
    await admin.end();
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'shop-scale-'));
    env = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      DATABASE_URL: pgServer.url('shop'),
      DATABASE_POOL_SIZE: '10',
      LOG_LEVEL: 'warn',
      SESSION_SECRET,
      // Production needs SMTP; nothing here sends mail (guest orders have no address).
      SMTP_URL: 'smtp://127.0.0.1:9',
      METRICS_TOKEN,
      TRUST_PROXY: 'loopback',
      JOBS_TIME_SCALE: String(JOBS_TIME_SCALE),
      ALIPAY_TIMEOUT_MS: '1000',
      ALIPAY_GATEWAY: gateway.url,
      ALIPAY_APP_ID: APP_ID,
      ALIPAY_SELLER_ID: SELLER_ID,
      ALIPAY_APP_PRIVATE_KEY: appKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      ALIPAY_PUBLIC_KEY: alipayKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      ORDERS_PER_IP_PER_10_MIN: '5',
      SHUTDOWN_DELAY_MS: '500',
    };
    // Both start at once on the empty database: migrations and the first seed must not collide.
    a = new Instance('A', await freePort('127.0.0.1')).start(env);
    b = new Instance('B', await freePort('127.0.0.1')).start(env);
    instances.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    db = createDb(pgServer.url('shop'), { poolSize: 10 });
    goodsId = (await db.goods.create({ data: { name: 'Scaled tea', priceFen: 1_200 } })).id;
  }, 300_000);

  afterAll(async () => {
    await Promise.all(instances.map((i) => i.child && i.stop('SIGKILL')));
    await db?.$disconnect();
    await pgServer?.destroy();
    await gateway.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') for (const i of instances) console.log(`--- ${i.name} (last lines)\n${i.output.slice(-30).join('\n')}`);
  });

  const newOrder = () => placeOrder(db, { lines: [{ goodsId, quantity: 1 }], ttlMinutes: 30 });
  const eventsOf = (outTradeNo: string) => db.paymentEvent.findMany({ where: { outTradeNo, source: 'NOTIFY' } });
  const statusOf = async (outTradeNo: string) => (await db.order.findUniqueOrThrow({ where: { outTradeNo } })).status;

  it('a shopper session works on both: add to the cart on A, see it on B, buy on A, see the order on B', async () => {
    const shopper = new Browser();
    expect((await shopper.request(`${a.base}/`)).status).toBe(200);
    expect((await shopper.request(`${a.base}/cart/items`, { method: 'POST', form: { goodsId: String(goodsId), quantity: '2' } })).status).toBe(303);
    const cart = await shopper.request(`${b.base}/cart`);
    expect(cart.text).toContain('Scaled tea');
    const bought = await shopper.request(`${a.base}/cart/checkout`, { method: 'POST', form: {} });
    expect(bought.status).toBe(303);
    const outTradeNo = (JSON.parse(new URL(bought.location!).searchParams.get('biz_content')!) as { out_trade_no: string }).out_trade_no;
    const orders = await shopper.request(`${b.base}/orders`);
    expect(orders.text).toContain(outTradeNo);
    expect((await shopper.request(`${b.base}/orders/${outTradeNo}`)).status).toBe(200);
    // A stranger's session on B sees none of it.
    expect((await new Browser().request(`${b.base}/orders`)).text).not.toContain(outTradeNo);
  });

  it('50 copies of a notification posted to A and B at once, round after round: one transition each, 50 success answers', async () => {
    const ROUNDS = 6;
    const applied0 = (await a.metric(/^alipay_notifications_total\{outcome="applied"\}/)) + (await b.metric(/^alipay_notifications_total\{outcome="applied"\}/));
    // Warm both instances' connections and database pools.
    await Promise.all(Array.from({ length: 20 }, (_, i) => http(`${[a, b][i % 2]!.base}/readyz`)));
    for (let round = 0; round < ROUNDS; round++) {
      const order = await newOrder();
      const body = signAsAlipay(notifyFields(order));
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => notifyTo(i % 2 ? b : a, body)));
      expect(answers.map((r) => `${r.status} ${r.text}`)).toEqual(Array(50).fill('200 success'));
      const events = await eventsOf(order.outTradeNo);
      expect(events).toHaveLength(50);
      expect(events.filter((e) => e.outcome === 'applied')).toHaveLength(1);
      expect(await statusOf(order.outTradeNo)).toBe('PAID');
    }
    const applied = (await a.metric(/^alipay_notifications_total\{outcome="applied"\}/)) + (await b.metric(/^alipay_notifications_total\{outcome="applied"\}/));
    expect(applied - applied0).toBe(ROUNDS);
 }, 120_000);

  it('both run the expiry sweep, yet each expired order is queried and closed once, and each job runs once per period', async () => {
    const orders = await Promise.all(Array.from({ length: 12 }, () => newOrder()));
    await db.order.updateMany({ where: { outTradeNo: { in: orders.map((o) => o.outTradeNo) } }, data: { expiresAt: new Date(Date.now() - 60_000) } });
    await waitFor('the sweep to expire every order', async () => (await db.order.count({ where: { outTradeNo: { in: orders.map((o) => o.outTradeNo) }, status: 'EXPIRED' } })) === orders.length);
    for (const order of orders) {
      expect([gateway.callsFor(order.outTradeNo, 'alipay.trade.query'), gateway.callsFor(order.outTradeNo, 'alipay.trade.close')]).toEqual([1, 1]);
    }

    const runs = async (outcome: string) => {
      const pattern = new RegExp(`^job_run_duration_seconds_count\\{job="expiry sweep",outcome="${outcome}"\\}`);
      return (await a.metric(pattern)) + (await b.metric(pattern));
    };
    const [ok0, skipped0, t0] = [await runs('ok'), await runs('skipped'), Date.now()];
    await sleep(JOB_PERIOD_MS * 4);
    const [ok1, skipped1, t1] = [await runs('ok'), await runs('skipped'), Date.now()];
    const periods = (t1 - t0) / JOB_PERIOD_MS;
    // Two instances tick twice as often as the period, but only one run per period happens.
    expect(ok1 - ok0).toBeGreaterThanOrEqual(Math.floor(periods) - 1);
    expect(ok1 - ok0).toBeLessThanOrEqual(Math.ceil(periods * 1.12) + 1);
    expect(skipped1 - skipped0).toBeGreaterThanOrEqual(1);
  });

  it('rate limits hold across instances (the counters live in PostgreSQL)', async () => {
    const other = createDb(pgServer.url('shop'), { poolSize: 10 });
    try {
      const limit = { name: 'scale-test', limit: 25, windowMs: 60_000 };
      const limiters = [createRateLimiter(db), createRateLimiter(other)];
      const states = await Promise.all(Array.from({ length: 40 }, (_, i) => limiters[i % 2]!.hit(limit, 'one subject')));
      expect(states.filter((s) => s.allowed)).toHaveLength(25);
    } finally {
      await other.$disconnect();
    }
  });

  // Order creation is limited per address once the hardening bounds are in (ORDERS_PER_IP_PER_10_MIN).
  it.runIf('limits' in loadConfig({}))('orders per address are limited across A and B together', async () => {
    const ip = `203.0.113.${Math.floor(Math.random() * 200) + 1}`;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const shopper = new Browser({ 'x-forwarded-for': ip });
      const instance = i % 2 ? b : a;
      await shopper.request(`${instance.base}/`);
      statuses.push((await shopper.request(`${instance.base}/orders`, { method: 'POST', form: { goodsId: String(goodsId), quantity: '1' } })).status);
    }
    expect(statuses.filter((s) => s === 303)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
  });

  it('a slow or failing Alipay gateway never blocks shopper pages: the check is bounded and the page says so', async () => {
    for (const mode of ['slow', 'fail'] as const) {
      gateway.mode = mode;
      try {
        const order = await newOrder();
        const [page, catalog] = await Promise.all([
          http(`${b.base}/orders/${order.outTradeNo}?check=1`, { timeoutMs: 4_000 }),
          http(`${a.base}/`, { timeoutMs: 4_000 }),
        ]);
        expect(page.status).toBe(200);
        expect(page.text).toContain('Alipay could not be reached just now');
        expect(catalog.status).toBe(200);
        expect(gateway.callsFor(order.outTradeNo, 'alipay.trade.query')).toBe(1);
      } finally {
        gateway.mode = 'ok';
      }
    }
  });

  it('PostgreSQL restarted during a burst of notifications: never success during the outage, every retry applied once afterwards', async () => {
    const orders = await Promise.all(Array.from({ length: 20 }, () => newOrder()));
    const answers: Answer[] = [];
    let down = false;
    const duringOutage: Answer[] = [];
    const send = async (order: { outTradeNo: string; totalFen: number }, i: number) => {
      const body = signAsAlipay(notifyFields(order));
      for (let attempt = 0; attempt < 200; attempt++) {
        const wasDown = down;
        const answer = await notifyTo([a, b][(i + attempt) % 2]!, body);
        answers.push(answer);
        if (wasDown && down) duringOutage.push(answer);
        if (answer.status === 200 && answer.text === 'success') return;
        await sleep(100);
      }
      throw new Error(`notification for ${order.outTradeNo} never succeeded`);
    };
    const senders = orders.map((order, i) => sleep(i * 40).then(() => send(order, i)));
    await sleep(200);
    await pgServer.stop();
    down = true;
    // Probed while the server is surely down.
    const extra = await newOrderBody();
    duringOutage.push(await notifyTo(a, extra), await notifyTo(b, extra));
    expect((await http(`${a.base}/readyz`)).status).toBe(503);
    await sleep(800);
    down = false;
    await pgServer.start();
    await Promise.all(senders);

    expect(duringOutage.length).toBeGreaterThanOrEqual(2);
    for (const answer of duringOutage) expect(answer.status === 0 || answer.status >= 500, `${answer.status} ${answer.text}`).toBe(true);
    for (const answer of answers) expect(answer.status === 200 ? answer.text : answer.status >= 500 || answer.status === 0).toBeTruthy();
    for (const order of orders) {
      expect(await statusOf(order.outTradeNo)).toBe('PAID');
      expect((await eventsOf(order.outTradeNo)).filter((e) => e.outcome === 'applied')).toHaveLength(1);
    }
    await Promise.all([a.ready(), b.ready()]);

    async function newOrderBody() {
      return signAsAlipay(notifyFields({ outTradeNo: `20261127${Date.now()}`, totalFen: 1_200 }));
    }
  });

  it('kill -9 of one instance in a burst: the other keeps serving; every success is stored; retries of the rest applied once', async () => {
    const orders = await Promise.all(Array.from({ length: 20 }, () => newOrder()));
    const bodies = orders.map((o) => signAsAlipay(notifyFields(o)));
    const burst = orders.flatMap((order, i) =>
      Array.from({ length: 6 }, (_, copy) => sleep(copy * 15).then(async () => ({ order, answer: await notifyTo(copy % 2 ? b : a, bodies[i]!) }))),
    );
    await sleep(40);
    await b.stop('SIGKILL');
    const results = await Promise.all(burst);
    expect(results.some((r) => r.answer.status === 0)).toBe(true);
    for (const { order, answer } of results) {
      if (answer.text === 'success') expect(await statusOf(order.outTradeNo)).toBe('PAID');
    }
    // The sender retries what did not get success; A alone answers.
    for (const [i, order] of orders.entries()) {
      if (!results.some((r) => r.order === order && r.answer.text === 'success')) {
        expect(await notifyTo(a, bodies[i]!)).toEqual({ status: 200, text: 'success' });
      }
      expect(await statusOf(order.outTradeNo)).toBe('PAID');
      expect((await eventsOf(order.outTradeNo)).filter((e) => e.outcome === 'applied')).toHaveLength(1);
    }
    expect((await http(`${a.base}/`)).status).toBe(200);
  });

  it('an instance started while PostgreSQL is down is alive but not ready, retries, and becomes ready when it comes up', async () => {
    await pgServer.stop();
    const c = new Instance('C', await freePort('127.0.0.1')).start(env);
    instances.push(c);
    try {
      await waitFor('C to listen', async () => (await http(`${c.base}/healthz`)).status === 200);
      for (let i = 0; i < 3; i++) {
        expect((await http(`${c.base}/readyz`)).status).toBe(503);
        expect((await http(`${c.base}/`)).status).toBe(503);
        await sleep(400);
      }
      expect(c.alive).toBe(true);
    } finally {
      await pgServer.start();
    }
    await c.ready(20_000);
    expect((await http(`${c.base}/`)).status).toBe(200);
    expect(c.output.join('\n')).toMatch(/database unreachable; not ready, retrying/);
  });

  it('at shutdown readiness fails first, then in-flight requests finish', async () => {
    gateway.mode = 'slow';
    try {
      const order = await newOrder();
      const inFlight = http(`${a.base}/orders/${order.outTradeNo}?check=1`, { timeoutMs: 5_000 });
      await sleep(200);
      a.child.kill('SIGTERM');
      const readyz = await http(`${a.base}/readyz`);
      expect(readyz.status).toBe(503);
      expect((await inFlight).status).toBe(200);
      await waitFor('A to exit', async () => !a.alive);
      expect(a.child.exitCode).toBe(0);
    } finally {
      gateway.mode = 'ok';
    }
  });
});
