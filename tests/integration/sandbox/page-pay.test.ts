import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import {
  buildSignString,
  formatAlipayTime,
  signRequestParams,
  verifyNotification,
  verifyReturn,
} from '../../../src/alipay/index.js';
import { NOTIFY_CONTENT_TYPE } from '../../../src/sandbox/notifier.js';
import { APP_ID, GATEWAY, NOTIFY_URL, RETURN_URL, SELLER_ID, createHarness, newOutTradeNo, useSandboxHarness } from '../../support/sandbox-harness.js';

const h = useSandboxHarness();

describe('page pay happy path', () => {
  it('redirects to a cashier showing merchant, subject, amount and time left, with Pay and Cancel buttons', async () => {
    const { cashier, outTradeNo } = await h.openCashier({ totalAmountFen: 1230 });
    expect(cashier).toMatch(/^\/sandbox\/cashier\/[A-Za-z0-9_-]{20,}$/);
    const page = await request(h.app).get(cashier).expect(200).expect('content-type', /html/);
    expect(page.text).toContain(`Sandbox merchant ${APP_ID}`);
    expect(page.text).toContain('龙井绿茶 Longjing Tea');
    expect(page.text).toContain('¥12.30');
    expect(page.text).toContain(outTradeNo);
    expect(page.text).toContain('1 d 0 h 0 min'.replace(' 0 h', '')); // default 24 h
    expect(page.text).toContain('<button type="submit" id="sandbox-pay"');
    expect(page.text).toContain('id="sandbox-cancel"');
    expect(page.text).toContain(`action="${cashier}/pay"`);
    expect(page.text).not.toMatch(/<script>(?!<\/script>)/);
    await request(h.app).get('/sandbox/static/cashier.js').expect(200);
  });

  it('on Pay: redirects to return_url with a verifiable signed query and POSTs a notification Alipay-style', async () => {
    const { cashier, outTradeNo } = await h.openCashier({ totalAmountFen: 1230, body: 'two tins', passbackParams: 'order%3D42' });
    const paid = await h.press(`${cashier}/pay`).expect(302);
    const location = paid.headers['location'] as string;
    expect(location.startsWith(`${RETURN_URL}?`)).toBe(true);
    const ret = verifyReturn(location, h.alipayKeys.publicKey);
    expect(ret).toMatchObject({ outTradeNo, totalAmountFen: 1230, appId: APP_ID, sellerId: SELLER_ID });
    expect(ret.fields).toMatchObject({
      method: 'alipay.trade.page.pay.return',
      auth_app_id: APP_ID,
      charset: 'utf-8',
      version: '1.0',
      sign_type: 'RSA2',
      timestamp: formatAlipayTime(h.state.clock),
    });
    expect(ret.tradeNo).toMatch(/^\d{28}$/);

    await h.gateway.settle();
    expect(h.state.sent).toHaveLength(1);
    const sent = h.state.sent[0]!;
    expect(sent.url).toBe(NOTIFY_URL);
    expect(sent.headers['Content-Type']).toBe(NOTIFY_CONTENT_TYPE);
    const n = verifyNotification(sent.body, h.alipayKeys.publicKey);
    expect(n).toMatchObject({
      notifyType: 'trade_status_sync',
      appId: APP_ID,
      sellerId: SELLER_ID,
      outTradeNo,
      tradeNo: ret.tradeNo,
      tradeStatus: 'TRADE_SUCCESS',
      totalAmountFen: 1230,
      receiptAmountFen: 1230,
      passbackParams: 'order%3D42',
    });
    expect(n.fields).toMatchObject({
      auth_app_id: APP_ID,
      charset: 'utf-8',
      version: '1.0',
      sign_type: 'RSA2',
      buyer_logon_id: 'san***@sandbox.com',
      invoice_amount: '12.30',
      buyer_pay_amount: '12.30',
      point_amount: '0.00',
      subject: '龙井绿茶 Longjing Tea',
      body: 'two tins',
      fund_bill_list: '[{"amount":"12.30","fundChannel":"ALIPAYACCOUNT"}]',
      notify_time: formatAlipayTime(h.state.clock),
      gmt_payment: formatAlipayTime(h.state.clock),
    });
    expect(n.fields['buyer_id']).toMatch(/^2088\d{12}$/);
    expect(n.fields['seller_email']).toMatch(/@/);
    expect(n.fields['gmt_create']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(n.notifyId).toMatch(/^[0-9a-f]{30,}$/);
    // The body is form-encoded once: fund_bill_list carries real quotes.
    expect(new URLSearchParams(sent.body).get('fund_bill_list')).toContain('"amount"');
  });

  it('without return_url shows "Payment successful"; the notification goes out anyway', async () => {
    const { cashier } = await h.openCashier({ returnUrl: undefined });
    const res = await h.press(`${cashier}/pay`).expect(200);
    expect(res.text).toContain('Payment successful');
    await h.gateway.settle();
    expect(h.state.sent).toHaveLength(1);
  });

  it('does not hold the redirect for a slow shop', async () => {
    let release: (() => void) | undefined;
    h.state.reply = () => new Promise((resolve) => (release = () => resolve({ status: 200, text: 'success' })));
    const { cashier } = await h.openCashier();
    await h.press(`${cashier}/pay`).expect(302);
    await vi.waitFor(() => expect(release).toBeDefined());
    release!();
    await h.gateway.settle();
    expect(h.state.sent).toHaveLength(1);
  });

  it('accepts the POST form delivery (system params in the query, biz_content in the body)', async () => {
    const params = h.pagePayParams();
    const { biz_content: biz, ...system } = params;
    const res = await request(h.app)
      .post(`${GATEWAY}?${new URLSearchParams(system).toString()}`)
      .type('form')
      .send(new URLSearchParams({ biz_content: biz! }).toString())
      .expect(302);
    expect(res.headers['location']).toMatch(/\/sandbox\/cashier\//);
  });

  it('cancel leaves the trade waiting and links back to the merchant', async () => {
    const { cashier, outTradeNo } = await h.openCashier();
    const res = await h.press(`${cashier}/cancel`).expect(200);
    expect(res.text).toContain('Payment cancelled');
    expect(res.text).toContain('href="http://shop.test/"');
    const q = await h.client.queryTrade({ outTradeNo });
    expect(q).toMatchObject({ kind: 'found', tradeStatus: 'WAIT_BUYER_PAY' });
    await request(h.app).get(cashier).expect(200).expect(/id="sandbox-pay"/);
  });

  it('a second Pay on a paid trade says already paid and sends nothing more', async () => {
    const { cashier } = await h.paidTrade();
    const again = await h.press(`${cashier}/pay`).expect(200);
    expect(again.text).toContain('ACQ.TRADE_HAS_SUCCESS');
    await h.gateway.settle();
    expect(h.state.sent).toHaveLength(1);
  });

  it('concurrent Pay clicks pay once and notify once', async () => {
    const { cashier } = await h.openCashier();
    const results = await Promise.all([1, 2, 3].map(() => h.press(`${cashier}/pay`)));
    expect(results.filter((r) => r.status === 302)).toHaveLength(1);
    await h.gateway.settle();
    expect(h.state.sent).toHaveLength(1);
  });
});

describe('same out_trade_no again', () => {
  it('resumes the same trade when amount and subject match', async () => {
    const outTradeNo = newOutTradeNo();
    const a = await h.openCashier({ outTradeNo });
    const b = await h.openCashier({ outTradeNo });
    expect(b.cashier).toBe(a.cashier);
  });

  it('refuses a different total_amount or subject (ACQ.CONTEXT_INCONSISTENT)', async () => {
    const outTradeNo = newOutTradeNo();
    await h.openCashier({ outTradeNo, totalAmountFen: 1230 });
    const amount = await h.pagePay(h.pagePayParams({ outTradeNo, totalAmountFen: 1231 })).expect(200);
    expect(amount.text).toContain('ACQ.CONTEXT_INCONSISTENT');
    const subject = await h.pagePay(h.pagePayParams({ outTradeNo, subject: 'Other' })).expect(200);
    expect(subject.text).toContain('ACQ.CONTEXT_INCONSISTENT');
  });

  it('says already paid (ACQ.TRADE_HAS_SUCCESS) or closed (ACQ.TRADE_HAS_CLOSE)', async () => {
    const { outTradeNo } = await h.paidTrade();
    expect((await h.pagePay(h.pagePayParams({ outTradeNo })).expect(200)).text).toContain('ACQ.TRADE_HAS_SUCCESS');
    const closed = await h.openCashier();
    expect(await h.client.closeTrade({ outTradeNo: closed.outTradeNo })).toEqual({ kind: 'closed' });
    expect((await h.pagePay(h.pagePayParams({ outTradeNo: closed.outTradeNo })).expect(200)).text).toContain('ACQ.TRADE_HAS_CLOSE');
  });
});

describe('expiry', () => {
  it('an expired trade cannot be paid and reads as TRADE_CLOSED', async () => {
    const { cashier, outTradeNo } = await h.openCashier({ timeExpire: new Date(h.state.clock.getTime() + 5 * 60_000) });
    const page = await request(h.app).get(cashier).expect(200);
    expect(page.text).toContain('5 min');
    h.advance(5 * 60_000 + 1000);
    const res = await h.press(`${cashier}/pay`).expect(200);
    expect(res.text).toContain('expired');
    expect(res.text).toContain('data-outcome="expired"');
    expect(await h.client.queryTrade({ outTradeNo })).toMatchObject({ kind: 'found', tradeStatus: 'TRADE_CLOSED' });
    await h.gateway.settle();
    expect(h.state.sent).toHaveLength(0);
  });

  it('honours timeout_express', async () => {
    const params = h.pagePayParams();
    const biz = JSON.parse(params['biz_content']!) as Record<string, string>;
    biz['timeout_express'] = '30m';
    const { sign: _s, ...rest } = params;
    const resigned = signRequestParams({ ...rest, biz_content: JSON.stringify(biz) }, h.appKeys.privateKey, 'RSA2');
    const res = await h.pagePay(resigned).expect(302);
    const page = await request(h.app).get(res.headers['location'] as string).expect(200);
    expect(page.text).toContain('30 min');
  });
});

describe('request checks (error page like Alipay)', () => {
  it('a bad signature shows the exact string the gateway verified', async () => {
    const params = h.pagePayParams();
    params['sign'] = h.pagePayParams({ outTradeNo: 'other' })['sign']!;
    const res = await h.pagePay(params).expect(200).expect('content-type', /html/);
    expect(res.text).toContain('isv.invalid-signature');
    const { sign: _s, ...signed } = params;
    const expected = buildSignString(signed);
    expect(expected).toContain('sign_type=RSA2');
    const escaped = expected.replaceAll('&', '&amp;').replaceAll('"', '&#34;');
    expect(res.text).toContain(`<pre class="sbx-pre" id="sandbox-sign-string">${escaped}</pre>`);
  });

  it('signing with another key is an invalid signature', async () => {
    const other = createHarness(h.db);
    const res = await h.pagePay(other.pagePayParams()).expect(200);
    expect(res.text).toContain('isv.invalid-signature');
  });

  it('rejects a timestamp in the wrong format or more than 10 minutes off (UTC instead of Beijing)', async () => {
    const utc = h.state.clock.toISOString().slice(0, 19).replace('T', ' ');
    for (const timestamp of [utc, '2026/11/25 12:00:00']) {
      const { sign: _s, ...rest } = h.pagePayParams();
      const params = signRequestParams({ ...rest, timestamp }, h.appKeys.privateKey, 'RSA2');
      const res = await h.pagePay(params).expect(200);
      expect(res.text).toContain('isv.invalid-timestamp');
    }
    h.advance(9 * 60_000);
    const { sign: _s, ...rest } = h.pagePayParams();
    h.advance(-9 * 60_000);
    await h.pagePay(signRequestParams(rest, h.appKeys.privateKey, 'RSA2')).expect(302);
  });

  it('rejects an unknown app_id', async () => {
    const res = await h.pagePay(h.pagePayParams({ appId: '2021000999999999' })).expect(200);
    expect(res.text).toContain('isv.invalid-app-id');
  });

  it('checks total_amount, out_trade_no, subject and product_code', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ total_amount: '12.345' }, 'ACQ.INVALID_PARAMETER'],
      [{ total_amount: '0.00' }, 'ACQ.INVALID_PARAMETER'],
      [{ total_amount: '100000000.01' }, 'ACQ.INVALID_PARAMETER'],
      [{ total_amount: '-1' }, 'ACQ.INVALID_PARAMETER'],
      [{ total_amount: undefined }, 'isv.missing-parameter'],
      [{ out_trade_no: 'has-dash' }, 'ACQ.INVALID_PARAMETER'],
      [{ out_trade_no: 'x'.repeat(65) }, 'ACQ.INVALID_PARAMETER'],
      [{ subject: 's'.repeat(257) }, 'ACQ.INVALID_PARAMETER'],
      [{ product_code: 'QUICK_WAP_WAY' }, 'ACQ.INVALID_PARAMETER'],
    ];
    for (const [change, subCode] of cases) {
      const { sign: _s, ...rest } = h.pagePayParams();
      const biz = { ...(JSON.parse(rest['biz_content']!) as Record<string, unknown>), ...change };
      const params = signRequestParams({ ...rest, biz_content: JSON.stringify(biz) }, h.appKeys.privateKey, 'RSA2');
      const res = await h.pagePay(params).expect(200);
      expect(res.text, JSON.stringify(change)).toContain(subCode);
    }
    await h.pagePay(h.pagePayParams({ totalAmountFen: 10_000_000_000 })).expect(302);
    await h.pagePay(h.pagePayParams({ totalAmountFen: 1 })).expect(302);
  });

  it('wap pay needs QUICK_WAP_WAY and returns with its own method', async () => {
    const { cashier } = await h.openCashier({ kind: 'wap' });
    const res = await h.press(`${cashier}/pay`).expect(302);
    expect(verifyReturn(res.headers['location'] as string, h.alipayKeys.publicKey).fields['method']).toBe('alipay.trade.wap.pay.return');
  });

  it('escapes what it echoes', async () => {
    const { sign: _s, ...rest } = h.pagePayParams();
    const params = signRequestParams({ ...rest, notify_url: 'http://x/<script>alert(1)</script>' }, h.appKeys.privateKey, 'RSA2');
    params['sign'] = 'AAAA';
    const res = await h.pagePay(params).expect(200);
    expect(res.text).not.toContain('<script>alert(1)</script>');
    expect(res.text).toContain('&lt;script&gt;');
  });

  it('decodes a body without charset in the query string as GBK, like Alipay, and says so', async () => {
    const params = h.pagePayParams({ subject: '龙井绿茶' });
    const res = await request(h.app).post(GATEWAY).type('form').send(new URLSearchParams(params).toString()).expect(200);
    expect(res.text).toContain('isv.invalid-signature');
    expect(res.text).toContain('请确认charset参数放在了URL查询字符串中');
  });

  it('answers an unknown cashier id with 404', async () => {
    await request(h.app).get('/sandbox/cashier/nope').expect(404);
  });
});
