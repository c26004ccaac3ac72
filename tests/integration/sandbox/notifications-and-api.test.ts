import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { extractSignedResponse, formatAlipayTime, signRequestParams, verifyNotification, verifyResponse } from '../../../src/alipay/index.js';
import { MAX_ATTEMPTS, RETRY_DELAYS_MS } from '../../../src/sandbox/notifier.js';
import { APP_ID, GATEWAY, SELLER_ID, TIME_SCALE, createHarness, newOutTradeNo, useSandboxHarness } from '../../support/sandbox-harness.js';

const h = useSandboxHarness();

async function notificationOf(outTradeNo: string, kind = 'payment') {
  return h.db.sandboxNotification.findFirstOrThrow({
    where: { trade: { outTradeNo }, kind },
    include: { attempts: { orderBy: { attemptNo: 'asc' } } },
    orderBy: { id: 'desc' },
  });
}

describe('notification retries', () => {
  it('retries on Alipay schedule × timeScale until the shop answers exactly "success"', async () => {
    h.state.reply = () => ({ status: 200, text: 'fail' });
    const { outTradeNo } = await h.paidTrade();
    let n = await notificationOf(outTradeNo);
    expect(n.attempts).toHaveLength(1);
    expect(n.attempts[0]).toMatchObject({ ok: false, httpStatus: 200, response: 'fail' });
    for (let i = 0; i < 3; i++) {
      const delay = RETRY_DELAYS_MS[i]! * TIME_SCALE;
      expect(n.nextAttemptAt!.getTime() - n.attempts.at(-1)!.attemptedAt.getTime()).toBe(delay);
      expect(await h.gateway.deliverDueNotifications()).toBe(0); // not due yet
      h.advance(delay);
      expect(await h.gateway.deliverDueNotifications()).toBe(1);
      n = await notificationOf(outTradeNo);
    }
    expect(n.attempts).toHaveLength(4);
    h.state.reply = () => ({ status: 200, text: ' success\n' });
    h.advance(RETRY_DELAYS_MS[3]! * TIME_SCALE);
    expect(await h.gateway.deliverDueNotifications()).toBe(1);
    n = await notificationOf(outTradeNo);
    expect(n).toMatchObject({ status: 'DELIVERED', nextAttemptAt: null, attemptCount: 5 });
    h.advance(24 * 3600_000);
    expect(await h.gateway.deliverDueNotifications()).toBe(0);
    // Every retry carries the same notify_id, each verifies.
    const ids = h.state.sent.map((s) => verifyNotification(s.body, h.alipayKeys.publicKey).notifyId);
    expect(new Set(ids).size).toBe(1);
    expect(ids).toHaveLength(5);
  });

  it('gives up after 8 attempts; network errors and HTTP errors count as failures', async () => {
    let calls = 0;
    h.state.reply = () => {
      calls++;
      if (calls % 2) throw new Error('connect ECONNREFUSED');
      return { status: 500, text: 'x'.repeat(900) };
    };
    const { outTradeNo } = await h.paidTrade();
    for (let i = 0; i < RETRY_DELAYS_MS.length; i++) {
      h.advance(RETRY_DELAYS_MS[i]! * TIME_SCALE);
      expect(await h.gateway.deliverDueNotifications()).toBe(1);
    }
    const n = await notificationOf(outTradeNo);
    expect(n.attempts).toHaveLength(MAX_ATTEMPTS);
    expect(n).toMatchObject({ status: 'GAVE_UP', nextAttemptAt: null });
    expect(n.attempts[0]!.error).toContain('ECONNREFUSED');
    expect(n.attempts[1]).toMatchObject({ httpStatus: 500 });
    expect(n.attempts[1]!.response).toHaveLength(500);
    h.advance(48 * 3600_000);
    expect(await h.gateway.deliverDueNotifications()).toBe(0);
  });

  it('a due attempt is sent once even when two passes (two instances) race', async () => {
    h.state.reply = () => ({ status: 200, text: 'fail' });
    const { outTradeNo } = await h.paidTrade();
    h.advance(RETRY_DELAYS_MS[0]! * TIME_SCALE);
    h.state.reply = () => ({ status: 200, text: 'success' });
    const sentBefore = h.state.sent.length;
    const counts = await Promise.all([h.gateway.deliverDueNotifications(), h.gateway.deliverDueNotifications()]);
    expect(counts[0]! + counts[1]!).toBe(1);
    expect(h.state.sent.length - sentBefore).toBe(1);
    expect((await notificationOf(outTradeNo)).status).toBe('DELIVERED');
  });

  it('the start() loop picks up due attempts from the DB', async () => {
    h.state.reply = () => ({ status: 200, text: 'fail' });
    const { outTradeNo } = await h.paidTrade();
    h.state.reply = () => ({ status: 200, text: 'success' });
    h.advance(RETRY_DELAYS_MS[0]! * TIME_SCALE);
    const loop = createHarness(h.db); // a second gateway instance on the same DB, as after a restart
    const sandbox = (await import('../../../src/sandbox/gateway.js')).createSandboxGateway({
      db: h.db, appId: APP_ID, sellerId: SELLER_ID, appPublicKey: loop.appKeys.publicKey,
      alipayPrivateKey: h.alipayKeys.privateKey, alipayPublicKey: h.alipayKeys.publicKey, basePath: '/sandbox',
      now: () => h.state.clock, pollIntervalMs: 10,
      transport: async (url, body, headers) => { h.state.sent.push({ url, body, headers }); return { status: 200, text: 'success' }; },
    });
    sandbox.start();
    try {
      await expect.poll(async () => (await notificationOf(outTradeNo)).status, { timeout: 5000 }).toBe('DELIVERED');
    } finally {
      await sandbox.stop();
    }
  });
});

describe('OpenAPI: query and close', () => {
  it('query: TRADE_NOT_EXIST before the cashier, WAIT_BUYER_PAY after, TRADE_SUCCESS after pay', async () => {
    const outTradeNo = newOutTradeNo();
    expect(await h.client.queryTrade({ outTradeNo })).toEqual({ kind: 'not-exist' });
    await h.openCashier({ outTradeNo });
    expect(await h.client.queryTrade({ outTradeNo })).toMatchObject({ kind: 'found', tradeStatus: 'WAIT_BUYER_PAY', totalAmountFen: 1230 });
    await h.press(`${(await h.openCashier({ outTradeNo })).cashier}/pay`).expect(302);
    const q = await h.client.queryTrade({ outTradeNo });
    expect(q).toMatchObject({ kind: 'found', tradeStatus: 'TRADE_SUCCESS', outTradeNo, totalAmountFen: 1230, buyerLogonId: 'san***@sandbox.com' });
    expect(q.kind === 'found' && q.sendPayDate?.getTime()).toBe(Math.floor(h.state.clock.getTime() / 1000) * 1000);
    expect(q.kind === 'found' && (await h.client.queryTrade({ tradeNo: q.tradeNo })).kind).toBe('found');
  });

  it('answers the raw shape Alipay does, signed over the exact text', async () => {
    const res = await h.callApi(
      signRequestParams(
        { app_id: APP_ID, method: 'alipay.trade.query', charset: 'utf-8', timestamp: formatAlipayTime(h.state.clock), version: '1.0', biz_content: '{"out_trade_no":"nope_1"}' },
        h.appKeys.privateKey,
        'RSA2',
      ),
    ).expect(200);
    const body = verifyResponse(res.text, 'alipay.trade.query', h.alipayKeys.publicKey, 'RSA2');
    expect(body).toEqual({ code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' });
    expect(res.text.startsWith('{"alipay_trade_query_response":{')).toBe(true);
  });

  it('a bad signature is answered with the verified string; an unknown method under error_response', async () => {
    const params = signRequestParams(
      { app_id: APP_ID, method: 'alipay.trade.query', charset: 'utf-8', timestamp: formatAlipayTime(h.state.clock), version: '1.0', biz_content: '{"out_trade_no":"x"}' },
      h.appKeys.privateKey,
      'RSA2',
    );
    const tampered = { ...params, biz_content: '{"out_trade_no":"y"}' };
    const res = await h.callApi(tampered).expect(200);
    const body = verifyResponse(res.text, 'alipay.trade.query', h.alipayKeys.publicKey, 'RSA2');
    expect(body['code']).toBe('40002');
    expect(body['msg']).toBe('Invalid Arguments');
    expect(body['sub_code']).toBe('isv.invalid-signature');
    expect(body['sub_msg']).toContain('网关生成的验签字符串为：app_id=' + APP_ID + '&biz_content={"out_trade_no":"y"}&charset=utf-8&method=alipay.trade.query&sign_type=RSA2&timestamp=');

    const unknown = await h.callApi(signRequestParams({ app_id: APP_ID, method: 'alipay.no.such', charset: 'utf-8', timestamp: formatAlipayTime(h.state.clock), version: '1.0' }, h.appKeys.privateKey, 'RSA2'));
    expect(extractSignedResponse(unknown.text, 'alipay.no.such').isError).toBe(true);
    expect(JSON.parse(unknown.text).error_response.sub_code).toBe('isv.invalid-method');

    const wrongApp = await h.callApi(signRequestParams({ app_id: '2021000000000000', method: 'alipay.trade.query', charset: 'utf-8', timestamp: formatAlipayTime(h.state.clock), version: '1.0', biz_content: '{}' }, h.appKeys.privateKey, 'RSA2'));
    expect(JSON.parse(wrongApp.text)).toEqual({ alipay_trade_query_response: { code: '40002', msg: 'Invalid Arguments', sub_code: 'isv.invalid-app-id', sub_msg: '无效的AppID参数' } });
  });

  it('close: closes a waiting trade (no notification); paid → TRADE_STATUS_ERROR; unknown → TRADE_NOT_EXIST', async () => {
    const { outTradeNo, cashier } = await h.openCashier();
    expect(await h.client.closeTrade({ outTradeNo })).toEqual({ kind: 'closed' });
    expect(await h.client.queryTrade({ outTradeNo })).toMatchObject({ tradeStatus: 'TRADE_CLOSED' });
    expect((await h.press(`${cashier}/pay`).expect(200)).text).toContain('ACQ.TRADE_HAS_CLOSE');
    const paid = await h.paidTrade();
    expect(await h.client.closeTrade({ outTradeNo: paid.outTradeNo })).toEqual({ kind: 'status-error' });
    expect(await h.client.closeTrade({ outTradeNo: newOutTradeNo() })).toEqual({ kind: 'not-exist' });
    expect(h.state.sent).toHaveLength(1); // only the payment
  });
});

describe('OpenAPI: refunds', () => {
  it('partial, replay, full, over-refund — with refund notifications', async () => {
    const { outTradeNo } = await h.paidTrade({ totalAmountFen: 1000 });
    expect(await h.client.refund({ outTradeNo, refundAmountFen: 300, outRequestNo: 'R1' })).toMatchObject({ kind: 'refunded', fundChange: true, refundFeeFen: 300 });
    await h.gateway.settle();
    const partial = verifyNotification(h.state.sent.at(-1)!.body, h.alipayKeys.publicKey);
    expect(partial).toMatchObject({ outTradeNo, tradeStatus: 'TRADE_SUCCESS', refundFeeFen: 300, outBizNo: 'R1', totalAmountFen: 1000 });
    expect(partial.gmtRefund).toBeInstanceOf(Date);
    expect(partial.gmtClose).toBeUndefined();

    // Same out_request_no again: same answer, no money moves, no notification.
    const sent = h.state.sent.length;
    expect(await h.client.refund({ outTradeNo, refundAmountFen: 300, outRequestNo: 'R1' })).toMatchObject({ kind: 'refunded', fundChange: false, refundFeeFen: 300 });
    expect(await h.client.refund({ outTradeNo, refundAmountFen: 301, outRequestNo: 'R1' })).toMatchObject({ kind: 'business-error', subCode: 'ACQ.CONTEXT_INCONSISTENT' });
    expect(await h.client.refund({ outTradeNo, refundAmountFen: 701, outRequestNo: 'R2' })).toMatchObject({ kind: 'business-error', code: '40004', subCode: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL' });
    await h.gateway.settle();
    expect(h.state.sent.length).toBe(sent);

    expect(await h.client.refund({ outTradeNo, refundAmountFen: 700, outRequestNo: 'R2' })).toMatchObject({ kind: 'refunded', fundChange: true, refundFeeFen: 1000 });
    await h.gateway.settle();
    const full = verifyNotification(h.state.sent.at(-1)!.body, h.alipayKeys.publicKey);
    expect(full).toMatchObject({ tradeStatus: 'TRADE_CLOSED', refundFeeFen: 1000, outBizNo: 'R2' });
    expect(full.gmtClose).toBeInstanceOf(Date);
    expect(await h.client.queryTrade({ outTradeNo })).toMatchObject({ tradeStatus: 'TRADE_CLOSED' });
    expect(await h.client.refund({ outTradeNo, refundAmountFen: 1, outRequestNo: 'R3' })).toMatchObject({ kind: 'business-error' });

    expect(await h.client.queryRefund({ outTradeNo, outRequestNo: 'R1' })).toEqual({ kind: 'done', refundAmountFen: 300 });
    expect(await h.client.queryRefund({ outTradeNo, outRequestNo: 'R2' })).toEqual({ kind: 'done', refundAmountFen: 700 });
    expect(await h.client.queryRefund({ outTradeNo, outRequestNo: 'R9' })).toEqual({ kind: 'not-found' });
    expect(await h.client.queryRefund({ outTradeNo: newOutTradeNo(), outRequestNo: 'R1' })).toEqual({ kind: 'not-found' });
  });

  it('concurrent refunds never exceed the total', async () => {
    const { outTradeNo } = await h.paidTrade({ totalAmountFen: 1000 });
    const results = await Promise.all(['A', 'B', 'C'].map((r) => h.client.refund({ outTradeNo, refundAmountFen: 400, outRequestNo: r })));
    expect(results.filter((r) => r.kind === 'refunded')).toHaveLength(2);
    const trade = await h.db.sandboxTrade.findFirstOrThrow({ where: { outTradeNo } });
    expect(trade.refundedFen).toBe(800n);
  });

  it('refusing unpaid trades; out_request_no defaults to out_trade_no', async () => {
    const { outTradeNo } = await h.openCashier();
    expect(await h.client.refund({ outTradeNo, refundAmountFen: 100, outRequestNo: 'X' })).toMatchObject({ subCode: 'ACQ.TRADE_STATUS_ERROR' });
    const paid = await h.paidTrade({ totalAmountFen: 500 });
    const res = await h.callApi(
      signRequestParams(
        { app_id: APP_ID, method: 'alipay.trade.refund', charset: 'utf-8', timestamp: formatAlipayTime(h.state.clock), version: '1.0', biz_content: JSON.stringify({ out_trade_no: paid.outTradeNo, refund_amount: '5.00' }) },
        h.appKeys.privateKey,
        'RSA2',
      ),
    );
    const body = verifyResponse(res.text, 'alipay.trade.refund', h.alipayKeys.publicKey, 'RSA2');
    expect(body).toMatchObject({ code: '10000', fund_change: 'Y', refund_fee: '5.00', out_trade_no: paid.outTradeNo, buyer_logon_id: 'san***@sandbox.com' });
    expect(body['gmt_refund_pay']).toBe(formatAlipayTime(h.state.clock));
    expect(await h.client.queryRefund({ outTradeNo: paid.outTradeNo, outRequestNo: paid.outTradeNo })).toEqual({ kind: 'done', refundAmountFen: 500 });
  });
});

describe('console and keys', () => {
  it('lists trades with their notifications and attempts, escaped', async () => {
    const { outTradeNo } = await h.paidTrade({ subject: '<b>tea</b>' });
    const res = await request(h.app).get('/sandbox/').expect(200);
    expect(res.text).toContain(outTradeNo);
    expect(res.text).toContain('&lt;b&gt;tea&lt;/b&gt;');
    expect(res.text).toContain('TRADE_SUCCESS');
    expect(res.text).toContain('DELIVERED');
    expect(res.text).toContain('HTTP 200 success');
    expect(res.text.indexOf(outTradeNo)).toBeLessThan(res.text.lastIndexOf('trade_no'));
  });

  it('"make the next N fail" records forced failures that retry on schedule; "resend now" re-sends', async () => {
    await h.press('/sandbox/console/fail-next', { n: '2' }).expect(303);
    const { outTradeNo } = await h.paidTrade();
    let n = await notificationOf(outTradeNo);
    expect(n.attempts[0]).toMatchObject({ ok: false, error: 'forced failure by console', httpStatus: null });
    expect(h.state.sent).toHaveLength(0);
    expect(n.nextAttemptAt!.getTime()).toBe(h.state.clock.getTime() + RETRY_DELAYS_MS[0]! * TIME_SCALE);

    const trade = await h.db.sandboxTrade.findFirstOrThrow({ where: { outTradeNo } });
    await h.press(`/sandbox/console/trades/${trade.id}/resend`).expect(303);
    n = await notificationOf(outTradeNo);
    expect(n.attempts).toHaveLength(2);
    expect(n.attempts[1]).toMatchObject({ trigger: 'manual', ok: false, error: 'forced failure by console' });
    expect(n.status).toBe('PENDING');

    await h.press(`/sandbox/console/trades/${trade.id}/resend`).expect(303);
    n = await notificationOf(outTradeNo);
    expect(n.attempts[2]).toMatchObject({ trigger: 'manual', ok: true, httpStatus: 200 });
    expect(n.status).toBe('DELIVERED');
    expect(h.state.sent).toHaveLength(1);

    // Resend after delivery: sent again with the same notify_id.
    await h.press(`/sandbox/console/trades/${trade.id}/resend`).expect(303);
    expect(h.state.sent).toHaveLength(2);
    expect(verifyNotification(h.state.sent[1]!.body, h.alipayKeys.publicKey).notifyId).toBe(n.notifyId);
    const page = await request(h.app).get('/sandbox/').expect(200);
    expect(page.text).toContain('forced failure by console');
  });

  it('closes a waiting trade from the console', async () => {
    const { outTradeNo } = await h.openCashier();
    const trade = await h.db.sandboxTrade.findFirstOrThrow({ where: { outTradeNo } });
    await h.press(`/sandbox/console/trades/${trade.id}/close`).expect(303);
    expect(await h.client.queryTrade({ outTradeNo })).toMatchObject({ tradeStatus: 'TRADE_CLOSED' });
  });

  it('shows the keys as HTML and JSON', async () => {
    const json = await request(h.app).get('/sandbox/keys').set('Accept', 'application/json').expect(200);
    expect(json.body).toMatchObject({ app_id: APP_ID, seller_id: SELLER_ID });
    expect(json.body.gateway_url).toMatch(/\/sandbox\/gateway\.do$/);
    expect(json.body.alipay_public_key_pem).toContain('BEGIN PUBLIC KEY');
    expect(json.body.alipay_public_key).not.toBe(json.body.app_public_key);
    const html = await request(h.app).get('/sandbox/keys').expect(200).expect('content-type', /html/);
    expect(html.text).toContain(json.body.alipay_public_key);
    void GATEWAY;
  });
});
