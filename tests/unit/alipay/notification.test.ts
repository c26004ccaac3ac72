import { sign as cryptoSign } from 'node:crypto';
import iconv from 'iconv-lite';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AlipayNotificationError,
  buildSignString,
  encodeForm,
  parseForm,
  signNotification,
  signReturnQuery,
  verifyNotification,
  verifyReturn,
} from '../../../src/alipay/index.js';
import { buildNotification as buildTradeFields } from '../../support/notifications.js';
import { makeKeyPair, type KeyPair } from './factories.js';

let alipay: KeyPair;
let app: KeyPair;
beforeAll(() => {
  alipay = makeKeyPair();
  app = makeKeyPair();
});

function expectReason(fn: () => unknown, reason: string): AlipayNotificationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AlipayNotificationError);
    expect((err as AlipayNotificationError).reason).toBe(reason);
    return err as AlipayNotificationError;
  }
  throw new Error(`expected AlipayNotificationError(${reason})`);
}

describe('verifyNotification', () => {
  it('returns a typed notification for a valid body', () => {
    const body = signNotification(buildTradeFields(), alipay.privateKey);
    const n = verifyNotification(body, alipay.publicKey);
    expect(n).toMatchObject({
      notifyId: '2026112500222100000012345678901234',
      notifyType: 'trade_status_sync',
      appId: '2021000122600000',
      sellerId: '2088102177649450',
      outTradeNo: 'ORDER_20261125_0001',
      tradeNo: '2026112522001446880500000001',
      tradeStatus: 'TRADE_SUCCESS',
      totalAmountFen: 1900,
      receiptAmountFen: 1900,
      buyerLogonId: 'abc***@example.com',
      buyerId: '2088102177846880',
    });
    expect(n.gmtPayment?.toISOString()).toBe('2026-11-25T02:00:05.000Z');
    expect(n.notifyTime?.toISOString()).toBe('2026-11-25T02:00:06.000Z');
    expect(n.fields['subject']).toBe('测试商品 Test goods');
    expect(n).not.toHaveProperty('out_trade_no');
    expect(n).not.toHaveProperty('refundFeeFen');
    expect(n.signString).not.toContain('sign_type=');
    expect(n.signString).not.toMatch(/(^|&)sign=/);
  });

  it('accepts a Buffer body', () => {
    const body = signNotification(buildTradeFields(), alipay.privateKey);
    expect(verifyNotification(Buffer.from(body), alipay.publicKey).outTradeNo).toBe('ORDER_20261125_0001');
  });

  it('excludes sign_type from the signed string (Alipay-style signature over the hand-built string)', () => {
    const fields = buildTradeFields();
    const content = Object.keys(fields).sort().map((k) => `${k}=${fields[k]}`).join('&');
    const sign = cryptoSign('sha256', Buffer.from(content), alipay.privateKey).toString('base64');
    const body = new URLSearchParams({ ...fields, sign_type: 'RSA2', sign }).toString();
    expect(verifyNotification(body, alipay.publicKey).signString).toBe(content);
  });

  it('verifies fund_bill_list with real quotes', () => {
    const fund = '[{"amount":"1.00","fundChannel":"ALIPAYACCOUNT"}]';
    const n = verifyNotification(signNotification(buildTradeFields({ fund_bill_list: fund }), alipay.privateKey), alipay.publicKey);
    expect(n.fields['fund_bill_list']).toBe(fund);
  });

  it('rejects fund_bill_list that our side HTML-escaped', () => {
    const fields = buildTradeFields();
    const body = signNotification(fields, alipay.privateKey);
    const escaped = body.replace(encodeForm({ x: fields['fund_bill_list'] ?? '' }).slice(2), encodeForm({ x: '[{&quot;amount&quot;:&quot;19.00&quot;}]' }).slice(2));
    expect(escaped).not.toBe(body);
    expectReason(() => verifyNotification(escaped, alipay.publicKey), 'bad-signature');
  });

  it('verifies values containing %, +, &, = and spaces; a double-decoded variant fails', () => {
    const tricky = 'a+b %41 & c=d 100% 中';
    const body = signNotification(buildTradeFields({ body: tricky, passback_params: 'k%3Dv%26x' }), alipay.privateKey);
    const n = verifyNotification(body, alipay.publicKey);
    expect(n.fields['body']).toBe(tricky);
    expect(n.passbackParams).toBe('k%3Dv%26x');

    // Someone decodes twice (e.g. decodeURIComponent on already-decoded values) and re-encodes.
    const decodedOnce = parseForm(body).fields;
    const doubleDecoded = { ...decodedOnce, passback_params: decodeURIComponent(decodedOnce['passback_params'] ?? '') };
    expectReason(() => verifyNotification(encodeForm(doubleDecoded), alipay.publicKey), 'bad-signature');
  });

  it('a tampered value is rejected with the sign string and a likely-cause hint', () => {
    const body = signNotification(buildTradeFields(), alipay.privateKey).replace('total_amount=19.00', 'total_amount=0.01');
    const err = expectReason(() => verifyNotification(body, alipay.publicKey), 'bad-signature');
    expect(err.signString).toContain('total_amount=0.01');
    expect(err.message).toMatch(/app public key/);
  });

  it('rejects a notification verified with the app public key instead of the Alipay one', () => {
    const body = signNotification(buildTradeFields(), alipay.privateKey);
    expectReason(() => verifyNotification(body, app.publicKey), 'bad-signature');
  });

  it('verifies a GBK notification over the GBK bytes', () => {
    const fields = buildTradeFields({ charset: 'GBK', subject: '中文商品名称' });
    const content = buildSignString(fields);
    const sign = cryptoSign('sha256', iconv.encode(content, 'gbk'), alipay.privateKey).toString('base64');
    const body = encodeForm({ ...fields, sign_type: 'RSA2', sign }, 'gbk');
    expect(body).toContain('subject=%D6%D0%CE%C4'); // 中文 in GBK
    const n = verifyNotification(Buffer.from(body, 'latin1'), alipay.publicKey);
    expect(n.fields['subject']).toBe('中文商品名称');
    // signNotification produces the same body
    expect(signNotification(fields, alipay.privateKey, { charset: 'GBK' })).toBe(body);
  });

  it('verifies over the received bytes even when they are not valid UTF-8', () => {
    const fields = buildTradeFields();
    const content = Buffer.concat([
      Buffer.from(buildSignString({ ...fields, body: undefined }).replace('buyer_id=', 'body=\u0000&buyer_id='), 'utf8'),
    ]);
    // Replace the NUL placeholder with a lone 0xFF byte (invalid UTF-8).
    const bytes = Buffer.from(content.toString('latin1').replace('\u0000', '\u00ff'), 'latin1');
    const sign = cryptoSign('sha256', bytes, alipay.privateKey).toString('base64');
    const body = `${encodeForm({ ...fields, sign_type: 'RSA2', sign })}&body=%FF`;
    const n = verifyNotification(body, alipay.publicKey);
    expect(n.fields['body']).toBe('\ufffd');
    expect(() => verifyNotification(body.replace('body=%FF', 'body=%FE'), alipay.publicKey)).toThrow(AlipayNotificationError);
  });

  it('verifies a body whose UTF-8 bytes arrive unencoded', () => {
    const fields = buildTradeFields();
    const sign = cryptoSign('sha256', Buffer.from(buildSignString(fields)), alipay.privateKey).toString('base64');
    const raw = Object.entries({ ...fields, sign_type: 'RSA2' })
      .map(([k, v]) => `${k}=${v.replace(/ /g, '+')}`)
      .join('&');
    const body = Buffer.from(`${raw}&sign=${encodeURIComponent(sign)}`, 'utf8');
    expect(verifyNotification(body, alipay.publicKey).fields['subject']).toBe('测试商品 Test goods');
  });

  it('accepts the gb2312 / utf8 charset spellings and rejects unknown ones', () => {
    expect(verifyNotification(signNotification(buildTradeFields({ charset: 'gb2312' }), alipay.privateKey), alipay.publicKey).tradeStatus).toBe('TRADE_SUCCESS');
    expect(verifyNotification(signNotification(buildTradeFields({ charset: 'UTF8' }), alipay.privateKey), alipay.publicKey).tradeStatus).toBe('TRADE_SUCCESS');
    expectReason(() => verifyNotification('charset=latin-9&sign=abc', alipay.publicKey), 'unknown-charset');
  });

  it('legacy RSA (SHA1) notifications verify', () => {
    const body = signNotification(buildTradeFields(), alipay.privateKey, { signType: 'RSA' });
    expect(body).toContain('sign_type=RSA&');
    expect(verifyNotification(body, alipay.publicKey).outTradeNo).toBe('ORDER_20261125_0001');
  });

  it('non-trade notification types that sign with sign_type also verify; trade_status_sync does not allow it', () => {
    const other = signNotification(buildTradeFields({ notify_type: 'servicemarket_order_notify' }), alipay.privateKey, { includeSignType: true });
    expect(verifyNotification(other, alipay.publicKey).signString).toContain('sign_type=RSA2');
    const trade = signNotification(buildTradeFields(), alipay.privateKey, { includeSignType: true });
    expectReason(() => verifyNotification(trade, alipay.publicKey), 'bad-signature');
  });

  it('parses refund events', () => {
    // gmt_refund carries milliseconds in Alipay's docs and real notifications
    const withMillis = verifyNotification(
      signNotification(buildTradeFields({ refund_fee: '5.00', gmt_refund: '2026-11-26 09:00:00.320', out_biz_no: 'R1' }), alipay.privateKey),
      alipay.publicKey,
    );
    expect(withMillis.gmtRefund?.toISOString()).toBe('2026-11-26T01:00:00.320Z');
    const ok = verifyNotification(
      signNotification(buildTradeFields({ refund_fee: '5.00', gmt_refund: '2026-11-26 09:00:00', out_biz_no: 'R1' }), alipay.privateKey),
      alipay.publicKey,
    );
    expect(ok).toMatchObject({ refundFeeFen: 500, outBizNo: 'R1' });
    expect(ok.gmtRefund?.toISOString()).toBe('2026-11-26T01:00:00.000Z');
  });

  it('malformed bodies are rejected', () => {
    expectReason(() => verifyNotification('a=%zz&sign=x', alipay.publicKey), 'malformed-body');
    expectReason(() => verifyNotification('a=%4', alipay.publicKey), 'malformed-body');
    expectReason(() => verifyNotification('{"json":true}', alipay.publicKey), 'malformed-body');
    expectReason(() => verifyNotification('a=1&a=2&sign=x', alipay.publicKey), 'malformed-body');
    expectReason(() => verifyNotification('', alipay.publicKey), 'malformed-body');
    expectReason(() => verifyNotification('__proto__=x&sign=x', alipay.publicKey), 'malformed-body');
    expectReason(() => verifyNotification('constructor=x&sign=x', alipay.publicKey), 'bad-signature');
  });

  it('missing sign or trade fields are rejected', () => {
    const fields = buildTradeFields();
    expectReason(() => verifyNotification(encodeForm(fields), alipay.publicKey), 'missing-field');
    const { out_trade_no: _drop, ...withoutOrder } = fields;
    const err = expectReason(() => verifyNotification(signNotification(withoutOrder, alipay.privateKey), alipay.publicKey), 'missing-field');
    expect(err.field).toBe('out_trade_no');
  });

  it('unknown trade_status is rejected', () => {
    const body = signNotification(buildTradeFields({ trade_status: 'TRADE_PENDING' }), alipay.privateKey);
    expectReason(() => verifyNotification(body, alipay.publicKey), 'invalid-field');
  });

  it('an empty field Alipay did sign still verifies (SDKs disagree on empties)', () => {
    const fields = buildTradeFields({ body: '' });
    const content = Object.keys(fields).sort().map((k) => `${k}=${fields[k]}`).join('&');
    const sign = cryptoSign('sha256', Buffer.from(content), alipay.privateKey).toString('base64');
    const body = encodeForm({ ...fields, sign_type: 'RSA2', sign });
    expect(verifyNotification(body, alipay.publicKey).signString).toContain('body=&');
  });
});

describe('verifyReturn', () => {
  const returnFields = {
    charset: 'utf-8',
    out_trade_no: 'ORDER_20261125_0001',
    method: 'alipay.trade.page.pay.return',
    total_amount: '19.00',
    trade_no: '2026112522001446880500000001',
    auth_app_id: '2021000122600000',
    version: '1.0',
    app_id: '2021000122600000',
    seller_id: '2088102177649450',
    timestamp: '2026-11-25 10:00:07',
  };

  it('verifies a full return URL', () => {
    const url = `https://shop.example.com/orders/return?${signReturnQuery(returnFields, alipay.privateKey)}`;
    expect(verifyReturn(url, alipay.publicKey)).toMatchObject({
      outTradeNo: 'ORDER_20261125_0001',
      tradeNo: '2026112522001446880500000001',
      totalAmountFen: 1900,
      appId: '2021000122600000',
      sellerId: '2088102177649450',
    });
  });

  it('verifies the bare query with %20 for spaces (URLSearchParams-style encoding also works)', () => {
    const query = signReturnQuery(returnFields, alipay.privateKey).replace(/\+/g, '%20');
    expect(verifyReturn(`?${query}`, alipay.publicKey).outTradeNo).toBe('ORDER_20261125_0001');
  });

  it('rejects a tampered amount', () => {
    const query = signReturnQuery(returnFields, alipay.privateKey).replace('total_amount=19.00', 'total_amount=1.00');
    expectReason(() => verifyReturn(query, alipay.publicKey), 'bad-signature');
  });
});
