import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { fenToAmount, type TransportRequest } from '../../src/alipay/index.js';
import os from 'node:os';
import path from 'node:path';
import { createAdminRouter } from '../../src/admin/router.js';
import { createMediaLibrary } from '../../src/media/index.js';
import { createLocalStore } from '../../src/media/local-store.js';
import { placeOrder } from '../../src/shop/orders.js';
import { FakeAlipayApi, fakePayments, notifyFields, NOTIFY_CONTENT_TYPE, signAsAlipay } from '../support/alipay.js';
import { cookieOf, csrfTokenOf, OPERATOR_PASSWORD, routesOf, signedInOperator } from '../support/admin.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();
const api = new FakeAlipayApi();
let app: ReturnType<typeof buildApp>;
let goodsId: number;

/** Alipay as far as these tests need it: trades paid by notification, refunds per out_request_no. */
const trades = new Map<string, { tradeNo: string; totalFen: number; status: string; refunds: Map<string, number> }>();
let refundHook: ((outTradeNo: string) => Promise<void>) | undefined;
let interceptor: ((req: TransportRequest, next: (req: TransportRequest) => Promise<{ status: number; text: string }>) => Promise<{ status: number; text: string }>) | undefined;

function answer(method: string, params: URLSearchParams): Record<string, unknown> | Error {
  const biz = JSON.parse(params.get('biz_content') ?? '{}') as Record<string, string>;
  const trade = trades.get(biz.out_trade_no ?? '');
  const notExist = { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' };
  const refunded = () => [...(trade?.refunds.values() ?? [])].reduce((a, b) => a + b, 0);
  if (method === 'alipay.trade.query') {
    if (!trade) return notExist;
    return { code: '10000', msg: 'Success', trade_status: trade.status, trade_no: trade.tradeNo, out_trade_no: biz.out_trade_no, total_amount: fenToAmount(trade.totalFen), buyer_logon_id: 'buy***@sandbox.com', send_pay_date: '2026-11-25 18:30:05' };
  }
  if (method === 'alipay.trade.close') {
    if (!trade) return notExist;
    if (trade.status !== 'WAIT_BUYER_PAY') return { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_STATUS_ERROR', sub_msg: '交易状态不合法' };
    trade.status = 'TRADE_CLOSED';
    return { code: '10000', msg: 'Success', trade_no: trade.tradeNo, out_trade_no: biz.out_trade_no };
  }
  if (method === 'alipay.trade.refund') {
    if (!trade) return notExist;
    const fen = Math.round(Number(biz.refund_amount) * 100);
    const again = trade.refunds.has(biz.out_request_no!);
    if (!again) {
      if (refunded() + fen > trade.totalFen) return { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', sub_msg: '退款金额超限' };
      trade.refunds.set(biz.out_request_no!, fen);
    }
    return { code: '10000', msg: 'Success', trade_no: trade.tradeNo, out_trade_no: biz.out_trade_no, fund_change: again ? 'N' : 'Y', refund_fee: fenToAmount(refunded()) };
  }
  if (method === 'alipay.trade.fastpay.refund.query') {
    const fen = trade?.refunds.get(biz.out_request_no!);
    if (fen === undefined) return { code: '10000', msg: 'Success' };
    return { code: '10000', msg: 'Success', trade_no: trade!.tradeNo, out_trade_no: biz.out_trade_no, out_request_no: biz.out_request_no, refund_amount: fenToAmount(fen), refund_status: 'REFUND_SUCCESS' };
  }
  return new Error(`unexpected ${method}`);
}

beforeAll(async () => {
  goodsId = (await t.db.goods.create({ data: { name: '龙井绿茶 Longjing', priceFen: 1_000 } })).id;
  api.responder = answer;
  const transport = api.transport;
  api.transport = async (req) => {
    const method = new URLSearchParams(req.body).get('method');
    const outTradeNo = (JSON.parse(new URLSearchParams(req.body).get('biz_content') ?? '{}') as Record<string, string>).out_trade_no;
    if (method === 'alipay.trade.refund' && refundHook && outTradeNo) await refundHook(outTradeNo);
    return interceptor ? interceptor(req, transport) : transport(req);
  };
  app = buildApp(t.db, { payments: fakePayments(api), env: { TRUST_PROXY: 'true' } });
});

async function unpaidOrder(quantity = 1) {
  return placeOrder(t.db, { lines: [{ goodsId, quantity }], ttlMinutes: 30 });
}

function notify(body: string) {
  return request(app).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).send(body);
}

async function paidOrder(quantity = 1) {
  const order = await unpaidOrder(quantity);
  const fields = notifyFields(order);
  expect((await notify(signAsAlipay(fields))).text).toBe('success');
  trades.set(order.outTradeNo, { tradeNo: fields.trade_no!, totalFen: order.totalFen, status: 'TRADE_SUCCESS', refunds: new Map() });
  return { ...order, tradeNo: fields.trade_no! };
}

const orderOf = (outTradeNo: string) => t.db.order.findUniqueOrThrow({ where: { outTradeNo } });
const actionsCount = () => t.db.operatorAction.count();

async function refundForm(op: Awaited<ReturnType<typeof signedInOperator>>, outTradeNo: string) {
  const page = await op.agent.get(`/admin/orders/${outTradeNo}`).expect(200);
  const formToken = /name="formToken" value="([^"]+)"/.exec(page.text)?.[1];
  if (!formToken) throw new Error('no refund form on the page');
  return formToken;
}

/** Every console route with its parameters filled in (a real order and refund). */
async function everyRoute() {
  const order = await paidOrder();
  const media = createMediaLibrary(createLocalStore(path.join(os.tmpdir(), 'admin-routes-media')));
  const router = createAdminRouter({ db: t.db, payments: fakePayments(api), events: {}, media, sessionSecret: 'x'.repeat(32), secureCookie: false });
  const routes = routesOf(router);
  const goodsId = String(order.items[0]?.goodsId ?? 1);
  return routes.map((r) => ({
    ...r,
    url: `/admin${r.path === '/' ? '' : r.path}`
      .replace(':outTradeNo', order.outTradeNo)
      .replace(':outRequestNo', 'RF0000')
      .replace(':imageId', '1')
      .replace(':id', goodsId)
      .replace(':date', '2026-11-26'),
  }));
}

describe('the list of console routes', () => {
  it('is read from the router and holds every page group', async () => {
    const routes = await everyRoute();
    const names = routes.map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(names).toEqual(expect.arrayContaining(['GET /login', 'POST /login', 'POST /logout', 'GET /', 'GET /orders', 'GET /orders.csv', 'GET /orders/:outTradeNo', 'POST /orders/:outTradeNo/refunds']));
    expect(routes.length).toBeGreaterThanOrEqual(13);
  });
});

describe('signing in', () => {
  it('every /admin route refuses a visitor who is not signed in: HTML 302 to the sign-in page, JSON 401', async () => {
    const routes = (await everyRoute()).filter((r) => r.path !== '/login');
    const visitor = request.agent(app);
    const token = csrfTokenOf((await visitor.get('/admin/login').expect(200)).text);
    const before = await actionsCount();
    for (const route of routes) {
      const html = route.method === 'get' ? await visitor.get(route.url).set('Accept', 'text/html') : await visitor.post(route.url).type('form').send({ _csrf: token, amount: '1.00', note: 'x' });
      // A .json address is for programs: 401 whatever the Accept header says.
      const expected = route.path.endsWith('.json') ? 401 : 302;
      expect(`${route.method} ${route.url} → ${html.status}`).toBe(`${route.method} ${route.url} → ${expected}`);
      if (expected === 302) expect(html.headers.location).toMatch(/^\/admin\/login(\?next=%2Fadmin.*)?$/);
      const json = route.method === 'get' ? await visitor.get(route.url).set('Accept', 'application/json') : await visitor.post(route.url).set('Accept', 'application/json').type('form').send({ _csrf: token });
      expect(`${route.method} ${route.url} → ${json.status}`).toBe(`${route.method} ${route.url} → 401`);
    }
    expect(await actionsCount()).toBe(before);
  });

  it('sends the visitor back where they wanted to go, and only to a local console path', async () => {
    const page = await request(app).get('/admin/orders?status=PAID').expect(302);
    expect(page.headers.location).toBe('/admin/login?next=%2Fadmin%2Forders%3Fstatus%3DPAID');
    const op = await signedInOperator(app, t.db);
    for (const [next, expected] of [
      ['/admin/orders?status=PAID', '/admin/orders?status=PAID'],
      ['//evil.example', '/admin'],
      ['https://evil.example', '/admin'],
      ['/\\evil.example', '/admin'],
      ['/admin/../../evil', '/admin'],
      ['javascript:alert(1)', '/admin'],
    ] as const) {
      const agent = request.agent(app);
      const token = csrfTokenOf((await agent.get('/admin/login').set('X-Forwarded-For', '10.9.0.1').expect(200)).text);
      const res = await agent.post('/admin/login').set('X-Forwarded-For', '10.9.0.1').type('form').send({ _csrf: token, email: op.email, password: OPERATOR_PASSWORD, next }).expect(303);
      expect(`${next} → ${res.headers.location}`).toBe(`${next} → ${expected}`);
    }
  });

  it('gives a new session id at sign-in and ends the session at sign-out', async () => {
    const op = await signedInOperator(app, t.db);
    const page = await op.agent.get('/admin/login').expect(302);
    expect(page.headers.location).toBe('/admin');
    const first = (await t.db.session.findMany()).map((s) => s.sid);
    const again = await op.agent.post('/admin/login').type('form').send({ _csrf: op.token, email: op.email, password: OPERATOR_PASSWORD }).expect(303);
    const cookie = cookieOf(again, 'admin.sid')!;
    expect(cookie).toMatch(/Path=\/admin/);
    expect(cookie).toMatch(/HttpOnly/);
    const sid = decodeURIComponent(cookie.split(';')[0]!.split('=')[1]!).slice(2).split('.')[0]!;
    expect(first).not.toContain(sid);
    // The old session id is gone from the store.
    expect((await t.db.session.findMany()).length).toBe(first.length);
    await op.agent.get('/admin').expect(200);
    await op.post('/admin/logout').expect(303);
    await op.agent.get('/admin').expect(302);
    expect(await t.db.session.count({ where: { sid } })).toBe(0);
  });

  it('ends a session 12 hours after sign-in however active, and 30 minutes idle by the cookie and the store', async () => {
    const op = await signedInOperator(app, t.db);
    const res = await op.agent.get('/admin').expect(200);
    expect(cookieOf(res, 'admin.sid')).toMatch(/Expires=/);
    const expires = new Date(/Expires=([^;]+)/.exec(cookieOf(res, 'admin.sid')!)![1]!);
    expect(Math.abs(expires.getTime() - Date.now() - 30 * 60_000)).toBeLessThan(60_000);
    const rows = await t.sql<{ sid: string; expires_at: Date }>(`SELECT sid, expires_at FROM sessions WHERE data->>'operatorId' IS NOT NULL ORDER BY expires_at DESC LIMIT 1`);
    expect(Math.abs(rows[0]!.expires_at.getTime() - Date.now() - 30 * 60_000)).toBeLessThan(60_000);
    await t.sql(`UPDATE sessions SET data = jsonb_set(data, '{signedInAt}', to_jsonb((extract(epoch from now()) * 1000 - 12.5 * 3600 * 1000)::bigint)) WHERE data->>'operatorId' IS NOT NULL`);
    await op.agent.get('/admin').expect(302);
  });

  it('answers an unknown email and a wrong password with the same message', async () => {
    const op = await signedInOperator(app, t.db);
    const attempt = async (email: string, password: string) => {
      const agent = request.agent(app);
      const token = csrfTokenOf((await agent.get('/admin/login').set('X-Forwarded-For', '10.7.0.1').expect(200)).text);
      const started = performance.now();
      const res = await agent.post('/admin/login').set('X-Forwarded-For', '10.7.0.1').type('form').send({ _csrf: token, email, password });
      return { status: res.status, message: /id="signin-error">([^<]*)</.exec(res.text)?.[1], ms: performance.now() - started };
    };
    const unknown = await attempt('nobody@shop.test', 'whatever-password');
    const wrong = await attempt(op.email, 'wrong-password-here');
    expect(unknown).toMatchObject({ status: 401, message: 'Wrong email or password.' });
    expect(wrong).toMatchObject({ status: 401, message: 'Wrong email or password.' });
    // Both ran scrypt (tens of ms); an unknown email must not answer much faster.
    expect(unknown.ms).toBeGreaterThan(wrong.ms / 4);
  });

  it('refuses a disabled operator, and signs out a session whose operator was disabled', async () => {
    const op = await signedInOperator(app, t.db);
    await t.db.operator.update({ where: { email: op.email }, data: { disabled: true } });
    await op.agent.get('/admin').expect(302);
    const agent = request.agent(app);
    const token = csrfTokenOf((await agent.get('/admin/login').set('X-Forwarded-For', '10.6.0.1').expect(200)).text);
    await agent.post('/admin/login').set('X-Forwarded-For', '10.6.0.1').type('form').send({ _csrf: token, email: op.email, password: OPERATOR_PASSWORD }).expect(401);
  });

  it('after 5 failures for one email, answers 429 with Retry-After, even with the right password', async () => {
    const op = await signedInOperator(app, t.db);
    const agent = request.agent(app);
    const token = csrfTokenOf((await agent.get('/admin/login').set('X-Forwarded-For', '10.5.0.1').expect(200)).text);
    const post = (password: string, ip = '10.5.0.1') => agent.post('/admin/login').set('X-Forwarded-For', ip).type('form').send({ _csrf: token, email: op.email.toUpperCase(), password });
    for (let i = 0; i < 5; i++) await post('wrong-password-here').expect(401);
    const blocked = await post(OPERATOR_PASSWORD, '10.5.0.2').expect(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(800);
    expect(blocked.text).toContain('Too many failed sign-ins');
  });

  it('after 20 failures from one IP, answers 429 for any email', async () => {
    const agent = request.agent(app);
    const token = csrfTokenOf((await agent.get('/admin/login').set('X-Forwarded-For', '10.4.0.1').expect(200)).text);
    for (let i = 0; i < 20; i++) {
      await agent.post('/admin/login').set('X-Forwarded-For', '10.4.0.1').type('form').send({ _csrf: token, email: `x${i}@shop.test`, password: 'wrong-password-here' }).expect(401);
    }
    const res = await agent.post('/admin/login').set('X-Forwarded-For', '10.4.0.1').type('form').send({ _csrf: token, email: 'y@shop.test', password: 'wrong-password-here' });
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBeDefined();
  });

  it('sends Cache-Control: no-store on console pages', async () => {
    expect((await request(app).get('/admin/login')).headers['cache-control']).toBe('no-store');
    const op = await signedInOperator(app, t.db);
    expect((await op.agent.get('/admin')).headers['cache-control']).toBe('no-store');
    expect((await op.agent.get('/admin/orders.json')).headers['cache-control']).toBe('no-store');
  });
});

describe('CSRF and roles', () => {
  it('every console POST without the CSRF token is refused (403) and changes nothing', async () => {
    const routes = (await everyRoute()).filter((r) => r.method === 'post');
    const op = await signedInOperator(app, t.db);
    const before = await actionsCount();
    for (const route of routes) {
      const res = await op.agent.post(route.url).type('form').send({ amount: '1.00', note: 'x', email: op.email, password: OPERATOR_PASSWORD });
      expect(`${route.url} → ${res.status}`).toBe(`${route.url} → 403`);
      const wrong = await op.agent.post(route.url).type('form').send({ _csrf: 'forged', amount: '1.00' });
      expect(`${route.url} → ${wrong.status}`).toBe(`${route.url} → 403`);
    }
    expect(await actionsCount()).toBe(before);
    await op.agent.get('/admin').expect(200);
  });

  it('a viewer sees every page but every action answers 403 and changes nothing', async () => {
    const routes = await everyRoute();
    const order = await paidOrder();
    const viewer = await signedInOperator(app, t.db, { role: 'viewer' });
    const before = await actionsCount();
    const actions = routes.filter((r) => r.method === 'post' && r.path !== '/login' && r.path !== '/logout');
    expect(actions.length).toBeGreaterThanOrEqual(6);
    for (const route of actions) {
      const url = route.url.replace(/orders\/[^/]+/, `orders/${order.outTradeNo}`);
      const res = await viewer.post(url, { amount: '1.00', reason: 'r', formToken: 'a'.repeat(24), note: 'x' });
      expect(`${url} → ${res.status}`).toBe(`${url} → 403`);
    }
    expect(await actionsCount()).toBe(before);
    expect(api.callsOf('alipay.trade.refund').filter((c) => c.params.get('biz_content')?.includes(order.outTradeNo))).toHaveLength(0);
    for (const route of routes.filter((r) => r.method === 'get' && r.path !== '/login' && !r.path.includes(':'))) {
      await viewer.agent.get(route.url).expect(200);
    }
    const page = await viewer.agent.get(`/admin/orders/${order.outTradeNo}`).expect(200);
    expect(page.text).not.toContain('id="refund-form"');
  });
});

describe('the order list', () => {
  it('pages newest first with a cursor that stays stable while new orders arrive', async () => {
    const op = await signedInOperator(app, t.db);
    for (let i = 0; i < 55; i++) await unpaidOrder();
    const first = await op.agent.get('/admin/orders.json').expect(200);
    expect(first.body.orders).toHaveLength(50);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const [newest] = first.body.orders;
    expect(newest).toMatchObject({ status: 'UNPAID', totalAmount: '10.00', refundedAmount: '0.00', tradeNo: null, attention: null, paidAt: null });
    expect(newest.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+08:00$/);
    expect(newest.items).toEqual([{ name: '龙井绿茶 Longjing', quantity: 1, unitPrice: '10.00', amount: '10.00' }]);
    for (let i = 0; i < 3; i++) await unpaidOrder();
    const second = await op.agent.get(`/admin/orders?after=${first.body.nextCursor}`).set('Accept', 'application/json').expect(200);
    const seen = new Set(first.body.orders.map((o: { outTradeNo: string }) => o.outTradeNo));
    expect(second.body.orders.length).toBeGreaterThan(0);
    for (const o of second.body.orders) expect(seen.has(o.outTradeNo)).toBe(false);
    const times = [...first.body.orders, ...second.body.orders].map((o: { createdAt: string }) => Date.parse(o.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    await op.agent.get('/admin/orders.json?after=garbage').expect(400);
  });

  it('filters by status, search text, dates and the attention flag, all in the URL, with counts per status', async () => {
    const op = await signedInOperator(app, t.db);
    const paid = await paidOrder(2);
    await t.db.order.update({ where: { outTradeNo: paid.outTradeNo }, data: { attention: 'check me' } });
    const byStatus = await op.agent.get('/admin/orders.json?status=PAID&status=REFUNDED').expect(200);
    expect(byStatus.body.orders.every((o: { status: string }) => ['PAID', 'REFUNDED'].includes(o.status))).toBe(true);
    for (const q of [paid.outTradeNo.slice(0, 20), paid.tradeNo.slice(0, 18), 'buy***@sand']) {
      const found = await op.agent.get(`/admin/orders.json?q=${encodeURIComponent(q)}&attention=1`).expect(200);
      expect(found.body.orders.map((o: { outTradeNo: string }) => o.outTradeNo)).toContain(paid.outTradeNo);
    }
    const byName = await op.agent.get(`/admin/orders.json?q=${encodeURIComponent('longjing')}&status=PAID`).expect(200);
    expect(byName.body.orders.map((o: { outTradeNo: string }) => o.outTradeNo)).toContain(paid.outTradeNo);
    const flagged = await op.agent.get('/admin/orders.json?attention=1').expect(200);
    expect(flagged.body.orders.every((o: { attention: string | null }) => o.attention !== null)).toBe(true);
    const today = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
    const todays = await op.agent.get(`/admin/orders.json?from=${today}&to=${today}&q=${paid.outTradeNo}`).expect(200);
    expect(todays.body.orders).toHaveLength(1);
    const yesterday = await op.agent.get(`/admin/orders.json?to=2020-01-01&q=${paid.outTradeNo}`).expect(200);
    expect(yesterday.body.orders).toHaveLength(0);
    const html = await op.agent.get(`/admin/orders?q=${paid.outTradeNo}`).expect(200);
    expect(html.text).toMatch(/data-status="PAID">PAID <span class="count">1<\/span>/);
    expect(html.text).toMatch(/data-status="UNPAID">UNPAID <span class="count">0<\/span>/);
    expect(html.text).toContain('⚑ attention');
    for (const bad of ['status=LOST', 'from=2026-13-01', 'from=2026-11-02&to=2026-11-01', 'attention=yes', `q=${'x'.repeat(101)}`]) {
      const res = await op.agent.get(`/admin/orders?${bad}`);
      expect(`${bad} → ${res.status}`).toBe(`${bad} → 400`);
    }
  });

  it('exports the filtered orders as CSV: UTF-8 with a BOM, one header row, yuan amounts, Beijing times', async () => {
    const op = await signedInOperator(app, t.db);
    const paid = await paidOrder(3);
    const res = await op.agent.get(`/admin/orders.csv?q=${paid.outTradeNo}`).buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    }).expect(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    const body = res.body as Buffer;
    expect([...body.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const lines = body.toString('utf8').slice(1).trim().split('\r\n');
    expect(lines[0]).toBe('Order no.,Created (Beijing),Items,Total,Status,Paid at (Beijing),Alipay trade no.,Buyer,Refunded,Attention');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^${paid.outTradeNo},\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2},龙井绿茶 Longjing ×3,30.00,PAID,\\d{4}-`));
    expect(lines[1]).toContain(`,${paid.tradeNo},buy***@sandbox.com,0.00,`);
  });
});

describe('an order in the console', () => {
  it('shows items, refunds and a timeline (JSON and HTML), with the raw notification and its sign masked', async () => {
    const op = await signedInOperator(app, t.db);
    const paid = await paidOrder();
    await Promise.all([1, 2].map(() => op.post(`/admin/orders/${paid.outTradeNo}/notes`, { note: 'customer called 客服' }).expect(303)));
    const json = await op.agent.get(`/admin/orders/${paid.outTradeNo}`).set('Accept', 'application/json').expect(200);
    expect(json.body).toMatchObject({ outTradeNo: paid.outTradeNo, status: 'PAID', totalAmount: '10.00', tradeNo: paid.tradeNo, refunds: [] });
    expect(json.body.timeline.map((e: { kind: string }) => e.kind)).toEqual(['created', 'notification', 'note']);
    expect(json.body.timeline[2].detail).toContain(`customer called 客服 (by ${op.email})`);
    const html = await op.agent.get(`/admin/orders/${paid.outTradeNo}`).expect(200);
    expect(html.text).toContain('sign=***');
    expect(html.text).not.toMatch(/sign=[A-Za-z0-9%+/]{20,}/);
    await op.agent.get('/admin/orders/NOPE').expect(404);
  });

  it('Query Alipay applies the answer through the confirmation path and is recorded with the operator', async () => {
    const op = await signedInOperator(app, t.db);
    const order = await unpaidOrder();
    trades.set(order.outTradeNo, { tradeNo: `2026112522001${Date.now()}`, totalFen: order.totalFen, status: 'TRADE_SUCCESS', refunds: new Map() });
    await op.post(`/admin/orders/${order.outTradeNo}/query`).expect(303);
    expect((await orderOf(order.outTradeNo)).status).toBe('PAID');
    const event = await t.db.paymentEvent.findFirstOrThrow({ where: { outTradeNo: order.outTradeNo } });
    expect(event).toMatchObject({ source: 'QUERY', outcome: 'applied' });
    const action = await t.db.operatorAction.findFirstOrThrow({ where: { orderId: event.orderId!, action: 'query' } });
    expect(action).toMatchObject({ operatorEmail: op.email, outcome: 'applied' });
    const again = await op.agent.post(`/admin/orders/${order.outTradeNo}/query`).set('Accept', 'application/json').type('form').send({ _csrf: op.token }).expect(200);
    expect(again.body).toEqual({ outcome: 'duplicate' });
  });

  it('Close closes an unpaid order at Alipay then here; when Alipay says it was paid, it becomes PAID instead', async () => {
    const op = await signedInOperator(app, t.db);
    const order = await unpaidOrder();
    trades.set(order.outTradeNo, { tradeNo: `2026112522002${Date.now()}`, totalFen: order.totalFen, status: 'WAIT_BUYER_PAY', refunds: new Map() });
    await op.post(`/admin/orders/${order.outTradeNo}/close`).expect(303);
    expect((await orderOf(order.outTradeNo)).status).toBe('CLOSED');
    await op.post(`/admin/orders/${order.outTradeNo}/close`).expect(303);
    expect(await t.db.operatorAction.count({ where: { action: 'close', order: { outTradeNo: order.outTradeNo } } })).toBe(1);

    const paidMeanwhile = await unpaidOrder();
    trades.set(paidMeanwhile.outTradeNo, { tradeNo: `2026112522003${Date.now()}`, totalFen: paidMeanwhile.totalFen, status: 'TRADE_SUCCESS', refunds: new Map() });
    await op.post(`/admin/orders/${paidMeanwhile.outTradeNo}/close`).expect(303);
    expect((await orderOf(paidMeanwhile.outTradeNo)).status).toBe('PAID');
    const paid = await paidOrder();
    const refused = await op.post(`/admin/orders/${paid.outTradeNo}/close`).expect(409);
    expect(refused.text).toContain('Only an unpaid order can be closed');
  });

  it('resolves the attention flag with a note, and refuses an empty note', async () => {
    const op = await signedInOperator(app, t.db);
    const paid = await paidOrder();
    await t.db.order.update({ where: { outTradeNo: paid.outTradeNo }, data: { attention: 'paid twice' } });
    await op.post(`/admin/orders/${paid.outTradeNo}/resolve`, { note: '  ' }).expect(400);
    await op.post(`/admin/orders/${paid.outTradeNo}/resolve`, { note: 'refunded the second trade in the Alipay console' }).expect(303);
    expect((await orderOf(paid.outTradeNo)).attention).toBeNull();
    const action = await t.db.operatorAction.findFirstOrThrow({ where: { action: 'resolve', order: { outTradeNo: paid.outTradeNo } } });
    expect(action.detail).toContain('refunded the second trade');
    expect(action.detail).toContain('paid twice');
  });
});

describe('refunds', () => {
  const refundCalls = (outTradeNo: string) => api.callsOf('alipay.trade.refund').filter((c) => c.params.get('biz_content')?.includes(outTradeNo));

  it('a partial refund, then the rest: two refunds with their own out_request_no, then REFUNDED', async () => {
    const op = await signedInOperator(app, t.db);
    const paid = await paidOrder();
    await op.post(`/admin/orders/${paid.outTradeNo}/refunds`, { amount: '1.50', reason: '少发一件', formToken: await refundForm(op, paid.outTradeNo) }).expect(303);
    let order = await orderOf(paid.outTradeNo);
    expect(order).toMatchObject({ status: 'PAID', refundedFen: 150 });
    await op.post(`/admin/orders/${paid.outTradeNo}/refunds`, { amount: '8.50', reason: 'rest', formToken: await refundForm(op, paid.outTradeNo) }).expect(303);
    order = await orderOf(paid.outTradeNo);
    expect(order).toMatchObject({ status: 'REFUNDED', refundedFen: 1000 });
    const refunds = await t.db.refund.findMany({ where: { orderId: order.id }, orderBy: { id: 'asc' } });
    expect(refunds.map((r) => [r.amountFen, r.status, r.tradeNo])).toEqual([[150, 'SUCCEEDED', paid.tradeNo], [850, 'SUCCEEDED', paid.tradeNo]]);
    expect(new Set(refunds.map((r) => r.outRequestNo)).size).toBe(2);
    const sent = refundCalls(paid.outTradeNo).map((c) => JSON.parse(c.params.get('biz_content')!) as Record<string, string>);
    expect(sent.map((b) => [b.refund_amount, b.out_request_no])).toEqual(refunds.map((r) => [fenToAmount(r.amountFen), r.outRequestNo]));
    const json = await op.agent.get(`/admin/orders/${paid.outTradeNo}`).set('Accept', 'application/json').expect(200);
    expect(json.body.refunds).toEqual([
      expect.objectContaining({ amount: '1.50', status: 'SUCCEEDED', reason: '少发一件', operator: op.email }),
      expect.objectContaining({ amount: '8.50', status: 'SUCCEEDED', reason: 'rest', operator: op.email }),
    ]);
    expect(json.body.timeline.filter((e: { kind: string }) => e.kind === 'refund').map((e: { outcome: string }) => e.outcome)).toEqual([
      'refund requested', 'refund refunded', 'refund requested', 'refund refunded',
    ]);
  });

  it('the same form posted twice (also at once) refunds once', async () => {
    const op = await signedInOperator(app, t.db);
    const paid = await paidOrder();
    const formToken = await refundForm(op, paid.outTradeNo);
    const replies = await Promise.all(Array.from({ length: 5 }, () => op.post(`/admin/orders/${paid.outTradeNo}/refunds`, { amount: '2.00', reason: 'dup', formToken })));
    expect(replies.map((r) => r.status)).toEqual(Array(5).fill(303));
    await op.post(`/admin/orders/${paid.outTradeNo}/refunds`, { amount: '2.00', reason: 'dup', formToken }).expect(303);
    expect(refundCalls(paid.outTradeNo)).toHaveLength(1);
    expect(await t.db.refund.count({ where: { order: { outTradeNo: paid.outTradeNo } } })).toBe(1);
    expect((await orderOf(paid.outTradeNo)).refundedFen).toBe(200);
  });

  it('more than what is left is refused with a clear message and nothing is sent to Alipay', async () => {
    const op = await signedInOperator(app, t.db);
    const paid = await paidOrder();
    await op.post(`/admin/orders/${paid.outTradeNo}/refunds`, { amount: '6.00', reason: 'a', formToken: await refundForm(op, paid.outTradeNo) }).expect(303);
    const res = await op.post(`/admin/orders/${paid.outTradeNo}/refunds`, { amount: '4.01', reason: 'b', formToken: await refundForm(op, paid.outTradeNo) }).expect(400);
    expect(res.text).toContain('¥4.01 is more than what is left to refund (¥4.00).');
    for (const bad of ['', '0', '-1', '1.234', 'abc']) {
      await op.post(`/admin/orders/${paid.outTradeNo}/refunds`, { amount: bad, reason: 'c', formToken: await refundForm(op, paid.outTradeNo) }).expect(400);
    }
    expect(refundCalls(paid.outTradeNo)).toHaveLength(1);
    const unpaid = await unpaidOrder();
    await op.post(`/admin/orders/${unpaid.outTradeNo}/refunds`, { amount: '1.00', reason: 'd', formToken: 'b'.repeat(24) }).expect(409);
    expect(refundCalls(unpaid.outTradeNo)).toHaveLength(0);
  });

  it('an ambiguous answer (timeout) is settled with the refund query, never by refunding again', async () => {
    const op = await signedInOperator(app, t.db);
    const paid = await paidOrder();
    // Alipay takes the refund, but the answer is lost on the way back.
    interceptor = async (req, next) => {
      const answer = await next(req);
      if (new URLSearchParams(req.body).get('method') === 'alipay.trade.refund') throw new Error('socket hang up');
      return answer;
    };
    try {
      await op.post(`/admin/orders/${paid.outTradeNo}/refunds`, { amount: '3.00', reason: 'x', formToken: await refundForm(op, paid.outTradeNo) }).expect(303);
    } finally {
      interceptor = undefined;
    }
    const refund = await t.db.refund.findFirstOrThrow({ where: { order: { outTradeNo: paid.outTradeNo } } });
    expect(refund.status).toBe('SUCCEEDED');
    expect(refundCalls(paid.outTradeNo)).toHaveLength(1);
    expect(api.callsOf('alipay.trade.fastpay.refund.query').filter((c) => c.params.get('biz_content')?.includes(refund.outRequestNo))).toHaveLength(1);
    expect((await orderOf(paid.outTradeNo)).refundedFen).toBe(300);
  });

  it('a refund Alipay refuses is FAILED with its reason and the amount is free again', async () => {
    const op = await signedInOperator(app, t.db);
    const paid = await paidOrder();
    trades.get(paid.outTradeNo)!.refunds.set('outside-console', 900);
    await op.post(`/admin/orders/${paid.outTradeNo}/refunds`, { amount: '5.00', reason: 'x', formToken: await refundForm(op, paid.outTradeNo) }).expect(303);
    const refund = await t.db.refund.findFirstOrThrow({ where: { order: { outTradeNo: paid.outTradeNo } } });
    expect(refund).toMatchObject({ status: 'FAILED' });
    expect(refund.error).toContain('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL');
    expect((await orderOf(paid.outTradeNo)).refundedFen).toBe(0);
  });

  it('a refund notification and the operator refund racing each other count the money once', async () => {
    const op = await signedInOperator(app, t.db);
    for (let round = 0; round < 4; round++) {
      const paid = await paidOrder();
      // Alipay's refund notification for this very refund arrives while the console waits for the answer
      // (rounds 0, 2), or races the settlement (rounds 1, 3).
      refundHook = async (outTradeNo) => {
        const fields = notifyFields(paid, { trade_no: paid.tradeNo, refund_fee: '5.00', gmt_refund: '2026-11-25 18:40:00.123', out_biz_no: 'x', trade_status: 'TRADE_SUCCESS' });
        const sending = notify(signAsAlipay(fields)).then((r) => expect(r.text).toBe('success'));
        if (round % 2 === 0) await sending;
        else void sending;
        void outTradeNo;
      };
      await op.post(`/admin/orders/${paid.outTradeNo}/refunds`, { amount: '5.00', reason: 'race', formToken: await refundForm(op, paid.outTradeNo) }).expect(303);
      refundHook = undefined;
      await new Promise((r) => setTimeout(r, 100));
      const order = await orderOf(paid.outTradeNo);
      expect(`round ${round}: ${order.status} ${order.refundedFen}`).toBe(`round ${round}: PAID 500`);
      const res = await op.post(`/admin/orders/${paid.outTradeNo}/refunds`, { amount: '5.01', reason: 'too much', formToken: await refundForm(op, paid.outTradeNo) });
      expect(res.status).toBe(400);
    }
  });

  it('a refund notification for a second, duplicate trade leaves the order PAID by its own trade', async () => {
    const paid = await paidOrder();
    const fields = notifyFields(paid, { trade_no: '2026112522001499999999999999', refund_fee: '10.00', gmt_refund: '2026-11-25 18:40:00.123', trade_status: 'TRADE_CLOSED' });
    expect((await notify(signAsAlipay(fields))).text).toBe('success');
    const order = await orderOf(paid.outTradeNo);
    expect(order).toMatchObject({ status: 'PAID', refundedFen: 0, tradeNo: paid.tradeNo });
    const event = await t.db.paymentEvent.findFirstOrThrow({ where: { outTradeNo: paid.outTradeNo, notifyId: fields.notify_id, tradeStatus: 'TRADE_CLOSED' } });
    expect(event.outcome).toBe('acknowledged');
    expect(event.reason).toContain('not of this order');
  });
});

describe('the dashboard', () => {
  it('shows revenue net of refunds, orders per status, the paid rate, flagged orders and an SVG chart with a table', async () => {
    const op = await signedInOperator(app, t.db);
    const paid = await paidOrder();
    await op.post(`/admin/orders/${paid.outTradeNo}/refunds`, { amount: '1.00', reason: 'x', formToken: await refundForm(op, paid.outTradeNo) }).expect(303);
    const json = await op.agent.get('/admin').set('Accept', 'application/json').expect(200);
    const revenueSince = async (since: string) =>
      fenToAmount(Number((await t.sql<{ fen: string }>(`SELECT coalesce(sum(total_fen - refunded_fen), 0) AS fen FROM orders WHERE status IN ('PAID','REFUNDED') AND paid_at >= ${since}`))[0]!.fen));
    const beijingToday = `(date_trunc('day', now() AT TIME ZONE 'UTC' + interval '8 hours') - interval '8 hours') AT TIME ZONE 'UTC'`;
    expect(json.body.revenue.today).toBe(await revenueSince(beijingToday));
    expect(json.body.revenue.last30Days).toBe(await revenueSince(`${beijingToday} - interval '29 days'`));
    expect(Number(json.body.revenue.today)).toBeGreaterThanOrEqual(9);
    expect(json.body.daily).toHaveLength(30);
    expect(json.body.flagged).toBe(await t.db.order.count({ where: { attention: { not: null } } }));
    expect(json.body.paidRate).toBeGreaterThan(0);
    const html = await op.agent.get('/admin').expect(200);
    expect(html.text).toMatch(/<svg[^>]*role="img"/);
    expect(html.text).toContain('<title id="chart-title">');
    expect(html.text).toContain('id="chart-data"');
    expect(html.text).toContain('href="/admin/orders?attention=1"');
    expect(html.text).not.toContain('<script');
  });
});
