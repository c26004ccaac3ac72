import { randomBytes } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import {
  buildPagePayParams,
  buildPagePayUrl,
  createAlipayClient,
  generateRsaKeyPair,
  type PagePayOptions,
} from '../../../src/alipay/index.js';
import { createSandboxGateway, type SandboxGateway } from '../../../src/sandbox/gateway.js';
import type { TestDatabase } from '../../support/db.js';

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
export function createHarness(t: TestDatabase) {
  const appKeys = generateRsaKeyPair();
  const alipayKeys = generateRsaKeyPair();
  const state = {
    clock: new Date('2026-11-25T04:00:00.000Z'),
    sent: [] as Sent[],
    reply: (_s: Sent): { status: number; text: string } | Promise<{ status: number; text: string }> => ({ status: 200, text: 'success' }),
  };
  const gateway: SandboxGateway = createSandboxGateway({
    db: t.db,
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
    const res = await request(app).post(`${opened.cashier}/pay`).expect(302);
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

  return { state, gateway, app, appKeys, alipayKeys, reset, advance, pagePayParams, pagePay, openCashier, paidTrade, client, callApi };
}

export function newOutTradeNo(): string {
  return `T${Date.now()}_${randomBytes(4).toString('hex')}`;
}
