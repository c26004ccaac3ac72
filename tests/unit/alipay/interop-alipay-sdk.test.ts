// Second opinion from the official Node SDK (devDependency only; never imported by src/).
import { AlipaySdk } from 'alipay-sdk';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  buildPagePayParams,
  buildSignedResponse,
  parseForm,
  privateKeyToPem,
  publicKeyToBase64,
  signNotification,
  verifyNotification,
} from '../../../src/alipay/index.js';
import { buildNotification as buildTradeFields } from '../../support/notifications.js';
import { makeKeyPair, type KeyPair } from './factories.js';

let app: KeyPair;
let alipay: KeyPair;
let sdk: AlipaySdk;

beforeAll(() => {
  app = makeKeyPair();
  alipay = makeKeyPair();
  sdk = new AlipaySdk({
    appId: '2021000122600000',
    privateKey: privateKeyToPem(app.privateKey),
    keyType: 'PKCS8',
    alipayPublicKey: publicKeyToBase64(alipay.publicKey),
    gateway: 'https://openapi-sandbox.dl.alipaydev.com/gateway.do',
  });
});

describe('interoperability with alipay-sdk', () => {
  it.each(['测试商品', 'a&b=c+d %41', 'plain'])('request signatures are byte-for-byte equal (subject %j)', (subject) => {
    const ours = buildPagePayParams({
      appId: '2021000122600000',
      privateKey: app.privateKey,
      kind: 'page',
      outTradeNo: 'ORDER_1',
      totalAmountFen: 1990,
      subject,
      notifyUrl: 'https://shop.example.com/alipay/notify',
      returnUrl: 'https://shop.example.com/return',
      timeExpire: new Date('2026-11-25T03:00:00Z'),
      now: new Date('2026-11-25T02:00:00Z'),
    });
    // The SDK formats timestamp in local time; pass ours so both sign the same parameters.
    const query = sdk.sdkExecute(
      'alipay.trade.page.pay',
      {
        bizContent: JSON.parse(ours['biz_content'] ?? '{}'),
        notifyUrl: ours['notify_url'],
        returnUrl: ours['return_url'],
        timestamp: ours['timestamp'],
        format: 'JSON',
      },
      { bizContentAutoSnakeCase: false },
    );
    const theirs = Object.fromEntries(new URLSearchParams(query));
    expect(theirs).toEqual(ours);
    expect(theirs['sign']).toBe(ours['sign']);
  });

  it('its notification verifier accepts what signNotification produces', () => {
    const body = signNotification(buildTradeFields({ body: 'a+b %41 & c=d' }), alipay.privateKey);
    expect(sdk.checkNotifySignV2(parseForm(body).fields)).toBe(true);
    expect(sdk.checkNotifySignV2({ ...parseForm(body).fields, total_amount: '0.01' })).toBe(false);
  });

  it('its response verifier accepts what buildSignedResponse produces', () => {
    const raw = buildSignedResponse('alipay.trade.query', { code: '10000', msg: 'Success', url: 'https://a/b' }, alipay.privateKey, { escapeSlashes: true });
    const sign = (JSON.parse(raw) as { sign: string }).sign;
    expect(() => sdk.checkResponseSign(raw, 'alipay_trade_query_response', sign, 'trace')).not.toThrow();
    const tampered = raw.replace('Success', 'Succe55');
    expect(() => sdk.checkResponseSign(tampered, 'alipay_trade_query_response', sign, 'trace')).toThrow();
  });

  it('we verify a notification signed like the SDK documents (sign string without sign/sign_type)', () => {
    const fields = buildTradeFields();
    const body = signNotification(fields, alipay.privateKey);
    expect(verifyNotification(body, alipay.publicKey).fields).toEqual({ ...fields, sign_type: 'RSA2', sign: parseForm(body).fields['sign'] });
  });
});
