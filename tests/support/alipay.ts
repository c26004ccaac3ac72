import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { buildSignedResponse, signNotification, type TransportRequest } from '../../src/alipay/index.js';
import { buildNotification, type NotifiedOrder } from './notifications.js';
import { createAlipayPayments, type AlipaySettings } from '../../src/payments/alipay-adapter.js';

export const APP_ID = '2021000122671234';
export const SELLER_ID = '2088102177649450';
export const GATEWAY = 'https://openapi-sandbox.dl.alipaydev.com/gateway.do';
export const PUBLIC_BASE_URL = 'http://shop.test';

// Generated once per test file: the app's key pair and "Alipay's" key pair.
export const appKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
export const alipayKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });

export type Responder = (method: string, params: URLSearchParams) => Record<string, unknown> | Error;

/** Plays Alipay's OpenAPI gateway: records every call, answers with signed responses. */
export class FakeAlipayApi {
  calls: { method: string; params: URLSearchParams }[] = [];
  responder: Responder = () => ({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' });

  transport = async (req: TransportRequest) => {
    const params = new URLSearchParams(req.body);
    for (const [k, v] of new URL(req.url).searchParams) params.set(k, v);
    const method = params.get('method') ?? '';
    this.calls.push({ method, params });
    const answer = this.responder(method, params);
    if (answer instanceof Error) throw answer;
    return { status: 200, text: buildSignedResponse(method, answer, alipayKeys.privateKey) };
  };

  callsOf(method: string) {
    return this.calls.filter((c) => c.method === method);
  }
}

export function alipaySettings(api: FakeAlipayApi, overrides: Partial<AlipaySettings> = {}): AlipaySettings {
  return {
    appId: APP_ID,
    sellerId: SELLER_ID,
    gatewayUrl: GATEWAY,
    signType: 'RSA2',
    appPrivateKey: appKeys.privateKey,
    alipayPublicKey: alipayKeys.publicKey,
    pagePayMethod: 'GET',
    transport: api.transport,
    ...overrides,
  };
}

export function fakePayments(api = new FakeAlipayApi(), overrides: Partial<AlipaySettings> = {}) {
  return createAlipayPayments(alipaySettings(api, overrides), PUBLIC_BASE_URL);
}

/** A notification about an order of ours, paid now, for our app and seller (fields before signing). */
export function notifyFields(order: NotifiedOrder, overrides: Record<string, string> = {}): Record<string, string> {
  return buildNotification({ app_id: APP_ID, auth_app_id: APP_ID, seller_id: SELLER_ID, buyer_logon_id: 'buy***@sandbox.com', ...overrides }, order);
}

export function signAsAlipay(fields: Record<string, string>, opts: { charset?: 'utf-8' | 'GBK'; key?: KeyObject } = {}): string {
  return signNotification(fields, opts.key ?? alipayKeys.privateKey, { charset: opts.charset });
}

export const NOTIFY_CONTENT_TYPE = 'application/x-www-form-urlencoded; text/html; charset=utf-8';
