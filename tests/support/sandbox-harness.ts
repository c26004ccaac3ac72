import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import {
  buildPagePayParams,
  buildPagePayUrl,
  createAlipayClient,
  generateRsaKeyPair,
  type PagePayOptions,
} from '../../src/alipay/index.js';
import type { Db } from '../../src/db/client.js';
import { beijingDate } from '../../src/lib/beijing-time.js';
import { createAlipayPayments, type AlipayPayments } from '../../src/payments/alipay-adapter.js';
import { createSandboxAccess, formSecret } from '../../src/sandbox/access.js';
import { createSandboxGateway, type SandboxGateway } from '../../src/sandbox/gateway.js';
import { getReconciliationRun, reconcileDate } from '../../src/shop/payments/reconciliation.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export const APP_ID = '2021000123456789';
export const SELLER_ID = '2088123456789012';
export const GATEWAY = '/sandbox/gateway.do';
export const NOTIFY_URL = 'http://shop.test/alipay/notify';
export const RETURN_URL = 'http://shop.test/orders/return';
export const TIME_SCALE = 0.001;

export interface Sent {
  url: string;
  body: string;
  headers: Record<string, string>;
}

/** A gateway on a test DB with a movable clock and a recording notification transport. */
export function createHarness(db: Db) {
  const appKeys = generateRsaKeyPair();
  const alipayKeys = generateRsaKeyPair();
  const state = {
    clock: new Date('2026-11-25T04:00:00.000Z'),
    sent: [] as Sent[],
    reply: (_s: Sent): { status: number; text: string } | Promise<{ status: number; text: string }> => ({ status: 200, text: 'success' }),
  };
  const gateway: SandboxGateway = createSandboxGateway({
    db,
    appId: APP_ID,
    sellerId: SELLER_ID,
    appPublicKey: appKeys.publicKey,
    alipayPrivateKey: alipayKeys.privateKey,
    alipayPublicKey: alipayKeys.publicKey,
    basePath: '/sandbox',
    timeScale: TIME_SCALE,
    now: () => state.clock,
    transport: async (url, body, headers) => {
      const s = { url, body, headers };
      state.sent.push(s);
      return state.reply(s);
    },
  });
  const app = express();
  app.use('/sandbox', gateway.router);

  function reset(): void {
    state.clock = new Date('2026-11-25T04:00:00.000Z');
    state.sent = [];
    state.reply = () => ({ status: 200, text: 'success' });
  }

  function advance(ms: number): void {
    state.clock = new Date(state.clock.getTime() + ms);
  }

  function pagePayParams(overrides: Partial<PagePayOptions> = {}): Record<string, string> {
    return buildPagePayParams({
      appId: APP_ID,
      privateKey: appKeys.privateKey,
      kind: 'page',
      outTradeNo: newOutTradeNo(),
      totalAmountFen: 1230,
      subject: '龙井绿茶 Longjing Tea',
      notifyUrl: NOTIFY_URL,
      returnUrl: RETURN_URL,
      now: state.clock,
      ...overrides,
    });
  }

  const forms = createSandboxAccess({ public: false, secret: formSecret(alipayKeys.privateKey) });
  /** A sandbox form POST as the sandbox's own page sends it (with its CSRF token). */
  function press(path: string, form: Record<string, string> = {}) {
    const cashier = /\/cashier\/([^/]+)\//.exec(path);
    const token = forms.tokenFor(cashier ? `cashier:${cashier[1]}` : 'console');
    return request(app).post(path).type('form').send({ _csrf: token, ...form });
  }

  /** GET delivery of a signed page pay; returns the response. */
  function pagePay(params: Record<string, string>) {
    return request(app).get(buildPagePayUrl(GATEWAY, params));
  }

  /** Page pay → 302 to the cashier; returns the cashier path. */
  async function openCashier(overrides: Partial<PagePayOptions> = {}): Promise<{ cashier: string; outTradeNo: string }> {
    const params = pagePayParams(overrides);
    const res = await pagePay(params).expect(302);
    const outTradeNo = (JSON.parse(params['biz_content'] as string) as { out_trade_no: string }).out_trade_no;
    return { cashier: res.headers['location'] as string, outTradeNo };
  }

  /** Opens a cashier, pays, waits for the first notification attempt. */
  async function paidTrade(overrides: Partial<PagePayOptions> = {}) {
    const opened = await openCashier(overrides);
    const res = await press(`${opened.cashier}/pay`).expect(302);
    await gateway.settle();
    return { ...opened, returnLocation: res.headers['location'] as string };
  }

  const client = createAlipayClient({
    gatewayUrl: `http://sandbox.test${GATEWAY}`,
    appId: APP_ID,
    privateKey: appKeys.privateKey,
    alipayPublicKey: alipayKeys.publicKey,
    now: () => state.clock,
    transport: async (req) => {
      const u = new URL(req.url);
      const res = await request(app).post(u.pathname + u.search).set(req.headers).send(req.body);
      return { status: res.status, text: res.text };
    },
  });

  /** Raw API call (signed like createAlipayClient does) returning the response text. */
  function callApi(params: Record<string, string>) {
    const { charset: _c, ...body } = params;
    return request(app).post(`${GATEWAY}?charset=utf-8`).type('form').send(new URLSearchParams(body).toString());
  }

  return { db, state, gateway, app, appKeys, alipayKeys, reset, advance, pagePayParams, pagePay, openCashier, paidTrade, client, callApi, press };
}

export function newOutTradeNo(): string {
  return `T${Date.now()}_${randomBytes(4).toString('hex')}`;
}

export type SandboxHarness = ReturnType<typeof createHarness>;

/**
 * Call at a test file's top level: a harness on a fresh database for the whole file, reset before
 * each test. The returned properties are only valid inside tests and hooks (they are read lazily).
 */
export function useSandboxHarness(): SandboxHarness {
  let database: TestDatabase | undefined;
  let harness: SandboxHarness | undefined;

  function current(): SandboxHarness {
    if (!harness) throw new Error('useSandboxHarness: the harness exists only inside tests and hooks');
    return harness;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    harness = createHarness(database.db);
  });
  beforeEach(() => current().reset());
  afterAll(async () => {
    await harness?.gateway.stop();
    await database?.drop();
  });

  return {
    get db() { return current().db; },
    get state() { return current().state; },
    get gateway() { return current().gateway; },
    get app() { return current().app; },
    get appKeys() { return current().appKeys; },
    get alipayKeys() { return current().alipayKeys; },
    get reset() { return current().reset; },
    get advance() { return current().advance; },
    get pagePayParams() { return current().pagePayParams; },
    get pagePay() { return current().pagePay; },
    get openCashier() { return current().openCashier; },
    get paidTrade() { return current().paidTrade; },
    get client() { return current().client; },
    get callApi() { return current().callApi; },
    get press() { return current().press; },
  };
}

/**
 * The harness's sandbox served on a local port and the shop's AlipayPayments pointed at it (on the
 * harness's clock), for tests that go over HTTP as the shop would (bills, refunds). Call in beforeAll.
 */
export async function serveSandbox(h: Pick<SandboxHarness, 'app' | 'appKeys' | 'alipayKeys' | 'state'>): Promise<{ payments: AlipayPayments; close(): Promise<void> }> {
  const server = h.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  const payments = createAlipayPayments(
    {
      appId: APP_ID,
      sellerId: SELLER_ID,
      gatewayUrl: `http://127.0.0.1:${port}${GATEWAY}`,
      signType: 'RSA2',
      appPrivateKey: h.appKeys.privateKey,
      alipayPublicKey: h.alipayKeys.publicKey,
      pagePayMethod: 'GET',
      now: () => h.state.clock,
    },
    'http://shop.test',
  );
  return { payments, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/**
 * For reconciliation tests, at a test file's top level: the harness's sandbox served (serveSandbox)
 * for the whole file, and each test trading on a Beijing day of its own, two after the previous
 * test's (the sandbox's trades stay in the file's database). Members are valid inside tests and hooks.
 */
export function useBillDays(h: SandboxHarness) {
  const DAY = 24 * 60 * 60 * 1000;
  let served: Awaited<ReturnType<typeof serveSandbox>> | undefined;
  let day = 0;
  let date = '';
  beforeAll(async () => {
    served = await serveSandbox(h);
  });
  afterAll(() => served?.close());
  beforeEach(() => {
    day += 2;
    h.advance(day * DAY);
    date = beijingDate(h.state.clock);
  });
  const payments = (): AlipayPayments => {
    if (!served) throw new Error('useBillDays: the sandbox is served only inside tests and hooks');
    return served.payments;
  };
  const deps = () => ({ db: h.db, provider: payments(), bills: payments() });
  return {
    payments,
    deps,
    /** The Beijing date the current test's trades happen on. */
    date: () => date,
    /** The next morning, when the day's bill is out: reconciles the test's date against it. */
    async reconcileNextMorning() {
      h.advance(DAY);
      const result = await reconcileDate(deps(), date, { now: () => h.state.clock });
      if (result.kind !== 'done') throw new Error(`expected a bill: ${result.reason}`);
      return { run: result.run, detail: await getReconciliationRun(h.db, date) };
    },
  };
}
