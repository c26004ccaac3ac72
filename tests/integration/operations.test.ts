import { Writable } from 'node:stream';
import { pino } from 'pino';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/client.js';
import { createRateLimiter } from '../../src/db/rate-limiter.js';
import { createJobClaim } from '../../src/jobs/claim.js';
import { scheduleJobs } from '../../src/jobs/schedule.js';
import type { JobRunner } from '../../src/jobs/runner.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { createReadiness } from '../../src/ops/readiness.js';
import { placeOrder } from '../../src/shop/orders.js';
import { FakeAlipayApi, fakePayments, notifyFields, NOTIFY_CONTENT_TYPE, signAsAlipay } from '../support/alipay.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();
const TOKEN = 'metrics-token-0123456789abcdef';
let goodsId: number;

beforeAll(async () => {
  goodsId = (await t.db.goods.create({ data: { name: 'Operated tea', priceFen: 1_200 } })).id;
});

const newOrder = () => placeOrder(t.db, { lines: [{ goodsId, quantity: 1 }], ttlMinutes: 30 });

function captureLogs() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

describe('/readyz', () => {
  it('is ready when the database answers and every migration is applied', async () => {
    const res = await request(buildApp(t.db)).get('/readyz').expect(200);
    expect(res.body).toMatchObject({ status: 'ready', database: 'ok', migrations: 'applied', shuttingDown: false });
  });

  it('fails as soon as shutdown begins, while /healthz (liveness) still passes', async () => {
    const readiness = createReadiness(t.db);
    const app = buildApp(t.db, { readiness });
    await request(app).get('/readyz').expect(200);
    readiness.markShuttingDown();
    expect((await request(app).get('/readyz').expect(503)).body).toMatchObject({ status: 'not ready', shuttingDown: true });
    await request(app).get('/healthz').expect(200);
  });

  it('fails while a migration is not applied', async () => {
    const [last] = await t.sql<{ id: string; migration_name: string }>('SELECT id, migration_name FROM "_prisma_migrations" ORDER BY migration_name DESC LIMIT 1');
    await t.sql('UPDATE "_prisma_migrations" SET finished_at = NULL WHERE id = $1', [last!.id]);
    try {
      const res = await request(buildApp(t.db)).get('/readyz').expect(503);
      expect(res.body).toMatchObject({ migrations: 'pending', pending: [last!.migration_name] });
    } finally {
      await t.sql('UPDATE "_prisma_migrations" SET finished_at = now() WHERE id = $1', [last!.id]);
    }
  });

  it('fails when the database cannot be reached', async () => {
    const db = createDb('postgres://nobody:nothing@127.0.0.1:1/none');
    const res = await request(buildApp(db)).get('/readyz').expect(503);
    expect(res.body).toMatchObject({ database: 'unreachable', ready: false });
  });
});

describe('request ids', () => {
  it('honours an incoming X-Request-Id and returns it; makes one when missing or unusable', async () => {
    const app = buildApp(t.db);
    expect((await request(app).get('/healthz').set('X-Request-Id', 'edge-42.abc').expect(200)).headers['x-request-id']).toBe('edge-42.abc');
    expect((await request(app).get('/healthz').expect(200)).headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const bad = await request(app).get('/healthz').set('X-Request-Id', 'a b<script>').expect(200);
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('is on every log line of a request, and a notification is logged with out_trade_no, notify_id and outcome', async () => {
    const { lines, logger } = captureLogs();
    const app = buildApp(t.db, { logger });
    const order = await newOrder();
    const fields = notifyFields(order);
    await request(app).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).set('X-Request-Id', 'notify-req-1').send(signAsAlipay(fields)).expect(200);
    const ofRequest = lines.filter((l) => l.reqId === 'notify-req-1');
    expect(ofRequest.length).toBeGreaterThanOrEqual(2);
    expect(ofRequest).toContainEqual(expect.objectContaining({ msg: 'alipay notification', outTradeNo: order.outTradeNo, notifyId: fields.notify_id, outcome: 'applied' }));
    expect(ofRequest).toContainEqual(expect.objectContaining({ msg: 'request completed' }));

    await request(app).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).set('X-Request-Id', 'notify-req-2').send('out_trade_no=X1&notify_id=N1&sign=bad').expect(400);
    expect(lines.filter((l) => l.reqId === 'notify-req-2')).toContainEqual(expect.objectContaining({ outTradeNo: 'X1', notifyId: 'N1', outcome: 'rejected' }));
  });
});

describe('/metrics', () => {
  it('is not served on the main port without METRICS_TOKEN', async () => {
    await request(buildApp(t.db)).get('/metrics').expect(404);
  });

  it('needs the bearer token on the main port', async () => {
    const app = buildApp(t.db, { env: { METRICS_TOKEN: TOKEN } });
    await request(app).get('/metrics').expect(401);
    await request(app).get('/metrics').set('Authorization', 'Bearer wrong-token-0123456789abcdef').expect(401);
    const res = await request(app).get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('reports requests by route pattern and status, notifications by outcome, transitions and Alipay calls', async () => {
    const metrics = createMetrics();
    const api = new FakeAlipayApi();
    const app = buildApp(t.db, { metrics, payments: fakePayments(api, { onApiCall: metrics.alipayCall }), env: { METRICS_TOKEN: TOKEN } });
    const order = await newOrder();
    const body = signAsAlipay(notifyFields(order));
    await request(app).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).send(body).expect(200);
    await request(app).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).send(body).expect(200);
    const unpaid = await newOrder();
    await request(app).get(`/orders/${unpaid.outTradeNo}?check=1`).set('Accept', 'application/json').expect(200);
    await request(app).get('/no-such-page').expect(404);

    const text = (await request(app).get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(200)).text;
    expect(text).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/alipay\/notify",status="200"\} 2/);
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/orders\/:outTradeNo",status="200"\} 1/);
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} 1/);
    expect(text).not.toContain(unpaid.outTradeNo);
    expect(text).toMatch(/alipay_notifications_total\{outcome="applied"\} 1/);
    expect(text).toMatch(/alipay_notifications_total\{outcome="duplicate"\} 1/);
    expect(text).toMatch(/order_transitions_total\{status="PAID"\} 1/);
    expect(text).toMatch(/alipay_api_call_duration_seconds_count\{method="alipay.trade.query",outcome="ok"\} 1/);
    expect(text).toContain('db_pool_connections');
  });
});

describe('periodic jobs across instances', () => {
  it('a period is claimed by one instance only', async () => {
    const a = createJobClaim(t.db);
    const b = createJobClaim(t.db);
    const name = `claim-test-${Date.now()}`;
    const results = await Promise.all([a(name, 60_000), b(name, 60_000), a(name, 60_000), b(name, 60_000)]);
    const winners = results.filter((r) => r !== undefined);
    expect(winners).toHaveLength(1);
    // The next period has come, but the run still holds its lease: nobody else starts.
    await t.sql('UPDATE job_schedule SET next_run_at = now() - interval \'1 second\' WHERE name = $1', [name]);
    expect(await b(name, 60_000)).toBeUndefined();
    await winners[0]!();
    expect(await b(name, 60_000)).toBeTypeOf('function');
  });

  it('the schedule purges expired sessions and rate-limit counters, and payment events only with a retention setting', async () => {
    const jobs = new Map<string, () => Promise<object | void>>();
    const runner: JobRunner = { every: (name, _ms, job) => void jobs.set(name, job), stop: async () => {} };
    const deps = { db: t.db, provider: fakePayments(), logger: pino({ level: 'silent' }) };
    scheduleJobs(runner, deps);
    expect([...jobs.keys()]).toEqual(['expiry sweep', 'session purge', 'rate limit purge', 'shopper token purge', 'refund check']);

    const limiter = createRateLimiter(t.db);
    const limit = { name: 'ops-test', limit: 5, windowMs: 1_000 };
    await limiter.hit(limit, 'old', new Date(Date.now() - 60_000));
    await limiter.hit(limit, 'current');
    expect(await jobs.get('rate limit purge')!()).toEqual({ purged: 1 });
    expect((await limiter.check(limit, 'current')).hits).toBe(1);

    const scheduled = new Map<string, () => Promise<object | void>>();
    scheduleJobs({ every: (name, _ms, job) => void scheduled.set(name, job), stop: async () => {} }, deps, { paymentEventRetentionDays: 90 });
    const order = await newOrder();
    await t.db.paymentEvent.createMany({
      data: [
        { source: 'NOTIFY', outTradeNo: order.outTradeNo, verified: true, outcome: 'applied', rawBody: 'old', receivedAt: new Date(Date.now() - 91 * 86_400_000) },
        { source: 'NOTIFY', outTradeNo: order.outTradeNo, verified: true, outcome: 'duplicate', rawBody: 'recent', receivedAt: new Date(Date.now() - 89 * 86_400_000) },
      ],
    });
    expect(await scheduled.get('payment event retention')!()).toEqual({ purged: 1 });
    expect((await t.db.paymentEvent.findMany({ where: { outTradeNo: order.outTradeNo } })).map((e) => e.rawBody)).toEqual(['recent']);
  });
});
