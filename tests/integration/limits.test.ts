import type { Express } from 'express';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { fenToAmount } from '../../src/alipay/index.js';
import { placeOrder } from '../../src/shop/orders.js';
import { sweepExpiredOrders } from '../../src/shop/payments/expiry.js';
import { createRateLimiter } from '../../src/db/rate-limiter.js';
import { FakeAlipayApi, fakePayments } from '../support/alipay.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';
import { shopper } from '../support/shopper.js';

const t = useTestDatabase();
let goodsId: number;

beforeAll(async () => {
  goodsId = (await t.db.goods.create({ data: { name: 'Limited tea', priceFen: 2_500 } })).id;
});

const orderOf = (outTradeNo: string) => t.db.order.findUniqueOrThrow({ where: { outTradeNo } });
const notExist = { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' };
const outTradeNoOf = (params: URLSearchParams) => (JSON.parse(params.get('biz_content')!) as { out_trade_no: string }).out_trade_no;

function paidAnswer(outTradeNo: string) {
  return {
    code: '10000',
    msg: 'Success',
    trade_no: `2026112522001${outTradeNo.slice(-15).replace(/\D/g, '3')}`,
    out_trade_no: outTradeNo,
    buyer_logon_id: 'que***@sandbox.com',
    trade_status: 'TRADE_SUCCESS',
    total_amount: fenToAmount(2_500),
    send_pay_date: '2026-11-25 18:00:00',
  };
}

const buy = (s: Awaited<ReturnType<typeof shopper>>, from: string) =>
  s.agent.post('/orders').set('X-Forwarded-For', from).type('form').send({ _csrf: s.token, goodsId: String(goodsId), quantity: '1' });

describe('order creation is rate-limited (shared through PostgreSQL)', () => {
  it('per browser session: 429 with Retry-After and a page that says when to try again, no order created', async () => {
    const app = buildApp(t.db, { env: { ORDERS_PER_SESSION_PER_10_MIN: '2', TRUST_PROXY: 'true' } });
    const s = await shopper(app);
    await buy(s, '203.0.113.1').expect(303);
    await buy(s, '203.0.113.1').expect(303);
    const before = await t.db.order.count();
    const refused = await buy(s, '203.0.113.1').expect(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(500);
    expect(refused.text).toMatch(/Try again in 10 minutes/);
    expect(await t.db.order.count()).toBe(before);
    // Another shopper is not affected.
    await buy(await shopper(app), '203.0.113.2').expect(303);
  });

  it('per address, across sessions (a client that drops its cookies)', async () => {
    const app = buildApp(t.db, { env: { ORDERS_PER_IP_PER_10_MIN: '3', TRUST_PROXY: 'true' } });
    for (let i = 0; i < 3; i++) await buy(await shopper(app), '203.0.113.50').expect(303);
    await buy(await shopper(app), '203.0.113.50').expect(429);
    await buy(await shopper(app), '203.0.113.51').expect(303);
  });
});

describe('the order page’s Alipay check has a global budget', () => {
  it('past ORDER_CHECKS_PER_MINUTE, pages show our state without asking Alipay', async () => {
    const api = new FakeAlipayApi();
    api.responder = (_m, params) => paidAnswer(outTradeNoOf(params));
    const app = buildApp(t.db, { payments: fakePayments(api), env: { ORDER_CHECKS_PER_MINUTE: '2' } });
    await createRateLimiter(t.db).reset({ name: 'order-checks', limit: 2, windowMs: 60_000 }, 'all');
    const orders = await Promise.all([1, 2, 3].map(() => placeOrder(t.db, { lines: [{ goodsId, quantity: 1 }], ttlMinutes: 30 })));
    for (const o of orders) await request(app).get(`/orders/${o.outTradeNo}?check=1`).expect(200);
    expect(api.callsOf('alipay.trade.query')).toHaveLength(2);
    expect((await orderOf(orders[2]!.outTradeNo)).status).toBe('UNPAID');
  });

  it('refuses a signed query answer about another trade than the one asked', async () => {
    const api = new FakeAlipayApi();
    const order = await placeOrder(t.db, { lines: [{ goodsId, quantity: 1 }], ttlMinutes: 30 });
    const other = await placeOrder(t.db, { lines: [{ goodsId, quantity: 1 }], ttlMinutes: 30 });
    api.responder = () => paidAnswer(other.outTradeNo);
    const app = buildApp(t.db, { payments: fakePayments(api) });
    await request(app).get(`/orders/${order.outTradeNo}?check=1`).expect(200);
    expect(api.callsOf('alipay.trade.query')).toHaveLength(1);
    expect((await orderOf(order.outTradeNo)).status).toBe('UNPAID');
    expect((await orderOf(other.outTradeNo)).status).toBe('UNPAID');
  });
});

describe('the expiry sweep under a flood of abandoned orders', () => {
  async function overdue(n: number, minutesAgo: number) {
    const past = new Date(Date.now() - minutesAgo * 60_000);
    return Promise.all(Array.from({ length: n }, () => placeOrder(t.db, { lines: [{ goodsId, quantity: 1 }], ttlMinutes: 30, now: past })));
  }

  it('two instances sweeping at once share the work: no order is asked about twice', async () => {
    await t.sql(`UPDATE orders SET status = 'CLOSED' WHERE status = 'UNPAID'`);
    const orders = await overdue(40, 120);
    const api = new FakeAlipayApi();
    api.responder = () => notExist;
    const provider = fakePayments(api);
    await Promise.all(Array.from({ length: 10 }, () => t.db.$executeRaw`SELECT pg_sleep(0.01)`));
    const [a, b] = await Promise.all([sweepExpiredOrders({ db: t.db, provider }, { batchSize: 5 }), sweepExpiredOrders({ db: t.db, provider }, { batchSize: 5 })]);
    expect(a.expired + b.expired).toBe(40);
    const asked = api.callsOf('alipay.trade.query').map((c) => outTradeNoOf(c.params));
    expect(asked).toHaveLength(40);
    expect(new Set(asked).size).toBe(40);
    for (const o of orders) expect((await orderOf(o.outTradeNo)).status).toBe('EXPIRED');
  });

  it('stays within its per-minute budget of Alipay calls, oldest first, and leaves the rest for later', async () => {
    await t.sql(`UPDATE orders SET status = 'CLOSED' WHERE status = 'UNPAID'`);
    const newer = await overdue(20, 60);
    const oldest = await overdue(5, 600);
    const api = new FakeAlipayApi();
    api.responder = () => notExist;
    const limiter = createRateLimiter(t.db);
    const budget = { name: 'test-expiry-budget', limit: 7, windowMs: 60_000 };
    const result = await sweepExpiredOrders({ db: t.db, provider: fakePayments(api) }, { batchSize: 3, takeBudget: (n) => limiter.take(budget, 'all', n) });
    expect(result).toMatchObject({ expired: 7, deferred: true });
    expect(api.callsOf('alipay.trade.query')).toHaveLength(7);
    const asked = new Set(api.callsOf('alipay.trade.query').map((c) => outTradeNoOf(c.params)));
    for (const o of oldest) expect(asked.has(o.outTradeNo)).toBe(true);
    expect(newer.filter((o) => asked.has(o.outTradeNo))).toHaveLength(2);
  });
});

describe('CSRF on every shopper POST route', () => {
  function postRoutes(app: Express): string[] {
    const walk = (stack: unknown[]): string[] =>
      (stack as { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown[] } }[]).flatMap((layer) => {
        if (layer.route) return layer.route.methods['post'] ? [layer.route.path] : [];
        return layer.handle?.stack ? walk(layer.handle.stack) : [];
      });
    return walk((app as unknown as { router: { stack: unknown[] } }).router.stack);
  }

  it('refuses each one (enumerated from the router) without a valid token, and changes nothing', async () => {
    const app = buildApp(t.db);
    const routes = postRoutes(app).filter((p) => p !== '/alipay/notify');
    expect(routes).toEqual(expect.arrayContaining(['/orders', '/cart/items', '/cart/checkout', '/orders/:outTradeNo/pay']));
    const order = await placeOrder(t.db, { lines: [{ goodsId, quantity: 1 }], ttlMinutes: 30 });
    const s = await shopper(app);
    const ordersBefore = await t.db.order.count();
    for (const route of routes) {
      const url = route.replace(':outTradeNo', order.outTradeNo).replace(':goodsId', String(goodsId));
      const form = { goodsId: String(goodsId), quantity: '1' };
      await s.agent.post(url).type('form').send(form).expect(403);
      await s.agent.post(url).type('form').send({ ...form, _csrf: 'A'.repeat(43) }).expect(403);
      await request(app).post(url).type('form').send({ ...form, _csrf: s.token }).expect(403);
    }
    expect(await t.db.order.count()).toBe(ordersBefore);
  });
});

describe('sessions', () => {
  it('never adopt a session id the server did not issue (fixation): a new id is issued at the first cart', async () => {
    const app = buildApp(t.db);
    const planted = 's%3Aattacker-chosen-id.invalidsignature';
    const csrfCookie = (await request(app).get('/')).headers['set-cookie']![0]!.split(';')[0]!;
    const page = await request(app).get('/').set('Cookie', csrfCookie);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const added = await request(app)
      .post('/cart/items')
      .set('Cookie', `${csrfCookie}; shop.sid=${planted}`)
      .type('form')
      .send({ _csrf: token, goodsId: String(goodsId), quantity: '1' })
      .expect(303);
    const issued = (added.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('shop.sid='))!;
    expect(issued).toBeDefined();
    expect(issued).not.toContain('attacker-chosen-id');
    expect(await t.sql(`SELECT 1 FROM sessions WHERE sid = 'attacker-chosen-id'`)).toHaveLength(0);
  });
});

describe('pay again', () => {
  it('refuses an order past its deadline with 409 and a clear message, without going to Alipay', async () => {
    const api = new FakeAlipayApi();
    const app = buildApp(t.db, { payments: fakePayments(api) });
    const s = await shopper(app);
    const order = await placeOrder(t.db, { lines: [{ goodsId, quantity: 1 }], ttlMinutes: 30, now: new Date(Date.now() - 31 * 60_000) });
    const res = await s.post(`/orders/${order.outTradeNo}/pay`).expect(409);
    expect(res.text).toContain('This order has expired and can no longer be paid.');
    expect(res.headers.location).toBeUndefined();
  });
});
