import { beforeAll, describe, expect, it } from 'vitest';
import {
  AlipayResponseError,
  AlipaySignatureError,
  AlipayTransportError,
  buildSignedResponse,
  createAlipayClient,
  extractSignedResponse,
  parseForm,
  signString,
  verifyResponse,
  verifySignature,
  buildSignString,
  type Transport,
  type TransportRequest,
} from '../../../src/alipay/index.js';
import { makeKeyPair, type KeyPair } from './factories.js';

let app: KeyPair;
let alipay: KeyPair;
beforeAll(() => {
  app = makeKeyPair();
  alipay = makeKeyPair();
});

const METHOD = 'alipay.trade.query';

describe('extractSignedResponse', () => {
  it('takes the exact raw substring, with \\/ escapes and braces inside strings', () => {
    const content = '{"code":"10000","msg":"Success","note":"a}b{c\\"}\\\\","url":"https:\\/\\/x.example\\/p","n":{"a":[1,{"b":"}"}]}}';
    const raw = `{"alipay_trade_query_response":${content},"sign":"SIG"}`;
    expect(extractSignedResponse(raw, METHOD)).toEqual({ content, sign: 'SIG', isError: false });
  });

  it('finds error_response', () => {
    const raw = '{"error_response":{"code":"40002","msg":"Invalid Arguments"},"sign":"S"}';
    expect(extractSignedResponse(raw, METHOD)).toEqual({ content: '{"code":"40002","msg":"Invalid Arguments"}', sign: 'S', isError: true });
  });

  it('tolerates whitespace and sign before the response', () => {
    const raw = ' { "sign" : "S" , "alipay_trade_query_response" : {"code":"10000"} } ';
    expect(extractSignedResponse(raw, METHOD).content).toBe('{"code":"10000"}');
  });

  it.each(['not json', '[]', '{"other_response":{}}', '{"alipay_trade_query_response":"x","sign":"s"}'])('rejects %j', (raw) => {
    expect(() => extractSignedResponse(raw, METHOD)).toThrow(AlipayResponseError);
  });
});

describe('verifyResponse', () => {
  it('verifies a response with \\/ escapes and braces in strings; tampering fails', () => {
    const body = { code: '10000', msg: 'Success', trade_no: '2026', note: 'x}{"y', url: 'https://a.example/b' };
    const raw = buildSignedResponse(METHOD, body, alipay.privateKey, { escapeSlashes: true });
    expect(raw).toContain('https:\\/\\/a.example\\/b');
    expect(verifyResponse(raw, METHOD, alipay.publicKey, 'RSA2')).toEqual(body);
    expect(() => verifyResponse(raw.replace('"trade_no":"2026"', '"trade_no":"2027"'), METHOD, alipay.publicKey, 'RSA2')).toThrow(
      AlipaySignatureError,
    );
    // Re-serialising (dropping the \/ escapes) would break the signature: we must not do it.
    expect(() => verifyResponse(raw.replace(/\\\//g, '/'), METHOD, alipay.publicKey, 'RSA2')).toThrow(AlipaySignatureError);
  });

  it('a response without sign is an error, never success', () => {
    const raw = buildSignedResponse(METHOD, { code: '10000', msg: 'Success' }, alipay.privateKey, { omitSign: true });
    expect(() => verifyResponse(raw, METHOD, alipay.publicKey, 'RSA2')).toThrow(AlipayResponseError);
  });

  it('a response signed by another key fails', () => {
    const raw = buildSignedResponse(METHOD, { code: '10000' }, app.privateKey);
    expect(() => verifyResponse(raw, METHOD, alipay.publicKey, 'RSA2')).toThrow(AlipaySignatureError);
  });
});

/** A fake gateway: records requests, answers with a signed response built by `answer`. */
function fakePayments(answer: (method: string, biz: Record<string, string>) => string) {
  const requests: TransportRequest[] = [];
  const transport: Transport = async (req) => {
    requests.push(req);
    const fields = parseForm(req.body).fields;
    return { status: 200, text: answer(fields['method'] ?? '', JSON.parse(fields['biz_content'] ?? '{}')) };
  };
  return { requests, transport };
}

function makeClient(transport: Transport, timeoutMs?: number) {
  return createAlipayClient({
    gatewayUrl: 'https://openapi-sandbox.dl.alipaydev.com/gateway.do',
    appId: '2021000122600000',
    privateKey: app.privateKey,
    alipayPublicKey: alipay.publicKey,
    transport,
    now: () => new Date('2026-11-25T02:00:00Z'),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}

describe('createAlipayClient', () => {
  it('queryTrade sends a signed request with charset in the query string and returns the trade', async () => {
    const gw = fakePayments((method, biz) =>
      buildSignedResponse(method, {
        code: '10000',
        msg: 'Success',
        trade_no: '2026112522001',
        out_trade_no: biz['out_trade_no'],
        trade_status: 'TRADE_SUCCESS',
        total_amount: '19.00',
        buyer_logon_id: 'abc***@example.com',
        send_pay_date: '2026-11-25 10:00:05',
      }, alipay.privateKey, { escapeSlashes: true }),
    );
    const result = await makeClient(gw.transport).queryTrade({ outTradeNo: 'ORDER_1' });
    expect(result).toEqual({
      kind: 'found',
      tradeStatus: 'TRADE_SUCCESS',
      tradeNo: '2026112522001',
      outTradeNo: 'ORDER_1',
      totalAmountFen: 1900,
      buyerLogonId: 'abc***@example.com',
      sendPayDate: new Date('2026-11-25T02:00:05Z'),
    });
    const req = gw.requests[0];
    expect(req?.url).toBe('https://openapi-sandbox.dl.alipaydev.com/gateway.do?charset=utf-8');
    const sent = parseForm(req?.body ?? '').fields;
    expect(sent).toMatchObject({ method: METHOD, app_id: '2021000122600000', sign_type: 'RSA2', timestamp: '2026-11-25 10:00:00', version: '1.0' });
    // The gateway sees charset from the query string: the signature covers it.
    const withCharset: Record<string, string> = { ...sent, charset: 'utf-8' };
    const { sign, ...signed } = withCharset;
    expect(verifySignature(buildSignString(signed), sign ?? '', app.publicKey, 'RSA2')).toBe(true);
  });

  it('queryTrade: ACQ.TRADE_NOT_EXIST means not-exist (unpaid), not an error', async () => {
    const gw = fakePayments((method) =>
      buildSignedResponse(method, { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' }, alipay.privateKey),
    );
    expect(await makeClient(gw.transport).queryTrade({ outTradeNo: 'ORDER_1' })).toEqual({ kind: 'not-exist' });
  });

  it('other business errors are returned typed', async () => {
    const gw = fakePayments((method) =>
      buildSignedResponse(method, { code: '40002', msg: 'Invalid Arguments', sub_code: 'isv.invalid-app-id', sub_msg: '无效的AppID参数' }, alipay.privateKey, { error: true }),
    );
    expect(await makeClient(gw.transport).queryTrade({ tradeNo: '1' })).toEqual({
      kind: 'business-error',
      code: '40002',
      msg: 'Invalid Arguments',
      subCode: 'isv.invalid-app-id',
      subMsg: '无效的AppID参数',
    });
  });

  it('a response without sign is an AlipayResponseError', async () => {
    const gw = fakePayments((method) => buildSignedResponse(method, { code: '10000', trade_status: 'TRADE_SUCCESS' }, alipay.privateKey, { omitSign: true }));
    await expect(makeClient(gw.transport).queryTrade({ outTradeNo: 'O' })).rejects.toThrow(AlipayResponseError);
  });

  it('a tampered response is an AlipaySignatureError', async () => {
    const gw = fakePayments((method) =>
      buildSignedResponse(method, { code: '10000', trade_status: 'WAIT_BUYER_PAY', trade_no: '1', out_trade_no: 'O', total_amount: '1.00' }, alipay.privateKey).replace('WAIT_BUYER_PAY', 'TRADE_SUCCESS'),
    );
    await expect(makeClient(gw.transport).queryTrade({ outTradeNo: 'O' })).rejects.toThrow(AlipaySignatureError);
  });

  it('a hanging transport times out with AlipayTransportError', async () => {
    const hang: Transport = () => new Promise(() => {});
    const err = await makeClient(hang, 50).queryTrade({ outTradeNo: 'O' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlipayTransportError);
    expect((err as AlipayTransportError).timedOut).toBe(true);
  });

  it('network errors and non-2xx answers are AlipayTransportError', async () => {
    const failing: Transport = async () => {
      throw new TypeError('fetch failed');
    };
    await expect(makeClient(failing).closeTrade({ outTradeNo: 'O' })).rejects.toThrow(AlipayTransportError);
    const bad: Transport = async () => ({ status: 502, text: 'Bad Gateway' });
    const err = await makeClient(bad).closeTrade({ outTradeNo: 'O' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlipayTransportError);
    expect((err as AlipayTransportError).status).toBe(502);
  });

  it('closeTrade maps closed / not-exist / status-error', async () => {
    const answers = [
      { code: '10000', msg: 'Success', out_trade_no: 'O' },
      { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST' },
      { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_STATUS_ERROR' },
    ];
    const gw = fakePayments((method) => buildSignedResponse(method, answers.shift() ?? {}, alipay.privateKey));
    const client = makeClient(gw.transport);
    expect(await client.closeTrade({ outTradeNo: 'O' })).toEqual({ kind: 'closed' });
    expect(await client.closeTrade({ outTradeNo: 'O' })).toEqual({ kind: 'not-exist' });
    expect(await client.closeTrade({ outTradeNo: 'O' })).toEqual({ kind: 'status-error' });
  });

  it('refund sends yuan strings and reports fund_change', async () => {
    const gw = fakePayments((method, biz) => {
      expect(biz).toEqual({ out_trade_no: 'O', refund_amount: '0.10', out_request_no: 'R1', refund_reason: '退货' });
      return buildSignedResponse(method, { code: '10000', msg: 'Success', trade_no: 'T', fund_change: 'Y', refund_fee: '0.10' }, alipay.privateKey);
    });
    expect(await makeClient(gw.transport).refund({ outTradeNo: 'O', refundAmountFen: 10, outRequestNo: 'R1', reason: '退货' })).toEqual({
      kind: 'refunded',
      fundChange: true,
      refundFeeFen: 10,
      tradeNo: 'T',
    });
  });

  it('queryRefund maps done / pending / not-found', async () => {
    const answers = [
      { code: '10000', msg: 'Success', refund_amount: '0.10', out_request_no: 'R1' },
      { code: '10000', msg: 'Success', refund_amount: '0.10', refund_status: 'REFUND_SUCCESS' },
      { code: '10000', msg: 'Success', refund_amount: '0.10', refund_status: 'REFUND_PROCESSING' },
      { code: '10000', msg: 'Success' },
    ];
    const gw = fakePayments((method) => buildSignedResponse(method, answers.shift() ?? {}, alipay.privateKey));
    const client = makeClient(gw.transport);
    const args = { outTradeNo: 'O', outRequestNo: 'R1' };
    expect(await client.queryRefund(args)).toEqual({ kind: 'done', refundAmountFen: 10 });
    expect(await client.queryRefund(args)).toEqual({ kind: 'done', refundAmountFen: 10 });
    expect(await client.queryRefund(args)).toEqual({ kind: 'pending', refundAmountFen: 10, refundStatus: 'REFUND_PROCESSING' });
    expect(await client.queryRefund(args)).toEqual({ kind: 'not-found' });
  });

  it('the signed response built by buildSignedResponse is signed over the exact JSON text', () => {
    const raw = buildSignedResponse(METHOD, { code: '10000' }, alipay.privateKey);
    expect(raw).toBe(`{"alipay_trade_query_response":{"code":"10000"},"sign":"${signString('{"code":"10000"}', alipay.privateKey, 'RSA2')}"}`);
  });
});
