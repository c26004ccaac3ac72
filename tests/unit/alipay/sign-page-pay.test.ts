import { verify as cryptoVerify } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AlipayParamError,
  buildPagePayForm,
  buildPagePayParams,
  buildPagePayUrl,
  buildSignString,
  signRequestParams,
  signString,
  verifySignature,
  type PagePayOptions,
} from '../../../src/alipay/index.js';
import { makeKeyPair, type KeyPair } from './factories.js';

let app: KeyPair;
beforeAll(() => {
  app = makeKeyPair();
});

const GATEWAY = 'https://openapi-sandbox.dl.alipaydev.com/gateway.do';
const NOW = new Date('2026-11-25T02:03:04Z'); // 10:03:04 in Beijing

function buildOptions(overrides: Partial<PagePayOptions> = {}): PagePayOptions {
  return {
    appId: '2021000122600000',
    privateKey: app.privateKey,
    kind: 'page',
    outTradeNo: 'ORDER_0001',
    totalAmountFen: 1,
    subject: '测试商品',
    notifyUrl: 'https://shop.example.com/alipay/notify',
    returnUrl: 'https://shop.example.com/orders/ORDER_0001/return',
    timeExpire: new Date('2026-11-25T02:33:04Z'),
    now: NOW,
    ...overrides,
  };
}

describe('buildSignString', () => {
  it('includes sign_type for requests and excludes it for notifications', () => {
    const params = { app_id: '1', sign_type: 'RSA2', sign: 'xxx', method: 'm' };
    expect(buildSignString(params)).toBe('app_id=1&method=m&sign_type=RSA2');
    expect(buildSignString(params, { excludeSignType: true })).toBe('app_id=1&method=m');
  });

  it('drops empty, undefined and null values', () => {
    expect(buildSignString({ b: '', a: '1', c: undefined, d: null, e: '0' })).toBe('a=1&e=0');
  });

  it('sorts by code unit, not locale', () => {
    expect(buildSignString({ a_b: '1', aB: '2', a: '3', B: '4' })).toBe('B=4&a=3&aB=2&a_b=1');
  });

  it('keeps values raw (no URL encoding)', () => {
    expect(buildSignString({ x: 'a&b=c %2B+', y: '{"k":"中"}' })).toBe('x=a&b=c %2B+&y={"k":"中"}');
  });
});

describe('signString / verifySignature', () => {
  it('RSA2 signs the UTF-8 bytes with SHA256withRSA', () => {
    const content = 'a=1&subject=中文';
    const sig = signString(content, app.privateKey, 'RSA2');
    expect(cryptoVerify('sha256', Buffer.from(content, 'utf8'), app.publicKey, Buffer.from(sig, 'base64'))).toBe(true);
    expect(verifySignature(content, sig, app.publicKey, 'RSA2')).toBe(true);
    expect(verifySignature(`${content}x`, sig, app.publicKey, 'RSA2')).toBe(false);
    expect(verifySignature(content, sig, app.publicKey, 'RSA')).toBe(false);
    expect(verifySignature(content, '', app.publicKey, 'RSA2')).toBe(false);
  });

  it('legacy RSA uses SHA1', () => {
    const sig = signString('a=1', app.privateKey, 'RSA');
    expect(cryptoVerify('sha1', Buffer.from('a=1'), app.publicKey, Buffer.from(sig, 'base64'))).toBe(true);
  });

  it('is deterministic (PKCS#1 v1.5)', () => {
    expect(signString('a=1', app.privateKey, 'RSA2')).toBe(signString('a=1', app.privateKey, 'RSA2'));
  });

  it('signRequestParams signs sign_type and drops empties', () => {
    const signed = signRequestParams({ app_id: '1', return_url: '', method: 'm' }, app.privateKey, 'RSA2');
    expect(signed).not.toHaveProperty('return_url');
    expect(signed['sign_type']).toBe('RSA2');
    expect(verifySignature('app_id=1&method=m&sign_type=RSA2', signed['sign'] ?? '', app.publicKey, 'RSA2')).toBe(true);
  });
});

describe('buildPagePayParams', () => {
  it('builds signed page pay params with Beijing timestamps and a yuan string', () => {
    const params = buildPagePayParams(buildOptions());
    expect(params).toMatchObject({
      app_id: '2021000122600000',
      method: 'alipay.trade.page.pay',
      format: 'JSON',
      charset: 'utf-8',
      sign_type: 'RSA2',
      timestamp: '2026-11-25 10:03:04',
      version: '1.0',
      notify_url: 'https://shop.example.com/alipay/notify',
      return_url: 'https://shop.example.com/orders/ORDER_0001/return',
    });
    expect(JSON.parse(params['biz_content'] ?? '')).toEqual({
      out_trade_no: 'ORDER_0001',
      total_amount: '0.01',
      subject: '测试商品',
      product_code: 'FAST_INSTANT_TRADE_PAY',
      time_expire: '2026-11-25 10:33:04',
    });
    const { sign, ...rest } = params;
    expect(verifySignature(buildSignString(rest), sign ?? '', app.publicKey, 'RSA2')).toBe(true);
  });

  it('wap pay uses alipay.trade.wap.pay and QUICK_WAP_WAY', () => {
    const params = buildPagePayParams(buildOptions({ kind: 'wap' }));
    expect(params['method']).toBe('alipay.trade.wap.pay');
    expect(JSON.parse(params['biz_content'] ?? '').product_code).toBe('QUICK_WAP_WAY');
  });

  it('does not send an empty return_url', () => {
    const params = buildPagePayParams(buildOptions({ returnUrl: '', body: '' }));
    expect(params).not.toHaveProperty('return_url');
    expect(params['biz_content']).not.toContain('"body"');
    const url = buildPagePayUrl(GATEWAY, params);
    expect(url).not.toContain('return_url');
  });

  it('keeps a Chinese subject intact through the URL', () => {
    const params = buildPagePayParams(buildOptions({ subject: '测试 商品&=+%' }));
    const url = new URL(buildPagePayUrl(GATEWAY, params));
    const received = Object.fromEntries(url.searchParams);
    expect(JSON.parse(received['biz_content'] ?? '').subject).toBe('测试 商品&=+%');
    const { sign, ...rest } = received;
    expect(verifySignature(buildSignString(rest), sign ?? '', app.publicKey, 'RSA2')).toBe(true);
  });

  it.each<[string, Partial<PagePayOptions>]>([
    ['out_trade_no with a dash', { outTradeNo: 'ORDER-1' }],
    ['out_trade_no too long', { outTradeNo: 'A'.repeat(65) }],
    ['zero amount', { totalAmountFen: 0 }],
    ['fractional fen', { totalAmountFen: 1.5 }],
    ['amount above 100000000.00', { totalAmountFen: 10_000_000_001 }],
    ['empty subject', { subject: '' }],
    ['subject over 256 chars', { subject: '字'.repeat(257) }],
    ['relative notify_url', { notifyUrl: '/alipay/notify' }],
  ])('rejects %s', (_name, overrides) => {
    expect(() => buildPagePayParams(buildOptions(overrides))).toThrow(AlipayParamError);
  });
});

describe('page pay delivery', () => {
  it('GET URL carries every param URL-encoded, sign included', () => {
    const params = buildPagePayParams(buildOptions());
    const url = new URL(buildPagePayUrl(GATEWAY, params));
    expect(`${url.origin}${url.pathname}`).toBe(GATEWAY);
    expect(Object.fromEntries(url.searchParams)).toEqual(params);
    const biz = JSON.parse(url.searchParams.get('biz_content') ?? '');
    expect(biz.total_amount).toBe('0.01');
    expect(biz.time_expire).toBe('2026-11-25 10:33:04');
  });

  it('POST form puts charset in the action query, biz_content in a hidden input, and escapes attributes', () => {
    const subject = `a"b<c>d&e'f`;
    const params = buildPagePayParams(buildOptions({ subject }));
    const html = buildPagePayForm(GATEWAY, params);
    const action = /action="([^"]*)"/.exec(html)?.[1] ?? '';
    const actionUrl = new URL(action.replace(/&amp;/g, '&'));
    expect(actionUrl.searchParams.get('charset')).toBe('utf-8');
    expect(actionUrl.searchParams.get('sign')).toBe(params['sign']);
    expect(actionUrl.searchParams.has('biz_content')).toBe(false);
    const value = /name="biz_content" value="([^"]*)"/.exec(html)?.[1] ?? '';
    expect(value).not.toMatch(/[<>"']/);
    expect(value).toContain('a\\&quot;b&lt;c&gt;d&amp;e&#39;f');
    const unescaped = value
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&#39;/g, "'")
      .replace(/&amp;/g, '&');
    expect(unescaped).toBe(params['biz_content']);
    expect(html).toContain('<noscript>');
    expect(html).toMatch(/<script>[^<]*submit\(\)/);
  });

  it('adds a CSP nonce to the script when given', () => {
    const html = buildPagePayForm(GATEWAY, buildPagePayParams(buildOptions()), { nonce: 'abc123' });
    expect(html).toContain('<script nonce="abc123">');
  });
});
