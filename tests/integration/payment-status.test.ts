import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { fenToAmount } from '../../src/alipay/index.js';
import { placeOrder } from '../../src/shop/orders.js';
import { sweepExpiredOrders } from '../../src/shop/payments/expiry.js';
import { refreshPaymentStatus } from '../../src/shop/payments/status.js';
import { FakeAlipayApi, fakePayments } from '../support/alipay.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();
let goodsId: number;

beforeAll(async () => {
  goodsId = (await t.db.goods.create({ data: { name: 'Reconciled tea', priceFen: 2_500 } })).id;
});

const newOrder = (ttlMinutes = 30, now?: Date) => placeOrder(t.db, { lines: [{ goodsId, quantity: 1 }], ttlMinutes, now });
const orderOf = (outTradeNo: string) => t.db.order.findUniqueOrThrow({ where: { outTradeNo } });

function paidAnswer(outTradeNo: string, totalFen = 2_500) {
  return {
    code: '10000',
    msg: 'Success',
    trade_no: `2026112522001${outTradeNo.slice(-15).replace(/\D/g, '3')}`,
    out_trade_no: outTradeNo,
    buyer_logon_id: 'que***@sandbox.com',
    trade_status: 'TRADE_SUCCESS',
    total_amount: fenToAmount(totalFen),
    send_pay_date: '2026-11-25 18:00:00',
  };
}
const notExist = { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' };

describe('checking with Alipay when no notification came (query fallback)', () => {
  it('the polling order page asks Alipay and applies a paid answer through the confirmation path', async () => {
    const api = new FakeAlipayApi();
    const app = buildApp(t.db, { payments: fakePayments(api) });
    const order = await newOrder();
    api.responder = (method, params) => {
      expect(method).toBe('alipay.trade.query');
      expect(JSON.parse(params.get('biz_content')!)).toEqual({ out_trade_no: order.outTradeNo });
      return paidAnswer(order.outTradeNo);
    };
    // Plain polling does not ask Alipay; ?check=1 (sent after ~10 s) does.
    const plain = await request(app).get(`/orders/${order.outTradeNo}`).set('Accept', 'application/json').expect(200);
    expect(plain.body.status).toBe('UNPAID');
    expect(api.calls).toHaveLength(0);
    const checked = await request(app).get(`/orders/${order.outTradeNo}?check=1`).set('Accept', 'application/json').expect(200);
    expect(checked.body).toMatchObject({ status: 'PAID', tradeNo: paidAnswer(order.outTradeNo).trade_no, paidAt: '2026-11-25T10:00:00.000Z' });
    const events = await t.db.paymentEvent.findMany({ where: { outTradeNo: order.outTradeNo } });
    expect(events).toEqual([expect.objectContaining({ source: 'QUERY', outcome: 'applied', verified: true })]);
  });

  it('asks at most once per order per 10 seconds', async () => {
    const api = new FakeAlipayApi();
    api.responder = () => notExist;
    const provider = fakePayments(api);
    const order = await newOrder();
    const t0 = new Date();
    expect(await refreshPaymentStatus({ db: t.db, provider }, order.outTradeNo, t0)).toBe(true);
    expect(await refreshPaymentStatus({ db: t.db, provider }, order.outTradeNo, new Date(t0.getTime() + 5_000))).toBe(false);
    await Promise.all(Array.from({ length: 5 }, () => refreshPaymentStatus({ db: t.db, provider }, order.outTradeNo, new Date(t0.getTime() + 11_000))));
    expect(api.callsOf('alipay.trade.query')).toHaveLength(2);
    expect((await orderOf(order.outTradeNo)).status).toBe('UNPAID');
  });

  it('refuses a query answer whose amount differs from the order', async () => {
    const api = new FakeAlipayApi();
    const order = await newOrder();
    api.responder = () => paidAnswer(order.outTradeNo, 1);
    const provider = fakePayments(api);
    await refreshPaymentStatus({ db: t.db, provider }, order.outTradeNo);
    expect((await orderOf(order.outTradeNo)).status).toBe('UNPAID');
  });

  it('shows our state when Alipay cannot be reached', async () => {
    const api = new FakeAlipayApi();
    api.responder = () => new Error('connect ECONNREFUSED');
    const app = buildApp(t.db, { payments: fakePayments(api) });
    const order = await newOrder();
    const res = await request(app).get(`/orders/${order.outTradeNo}?check=1`).set('Accept', 'application/json').expect(200);
    expect(res.body.status).toBe('UNPAID');
  });
});

describe('expiring unpaid orders', () => {
  it('expires an order Alipay never saw, and leaves unexpired ones alone', async () => {
    const api = new FakeAlipayApi();
    api.responder = () => notExist;
    const provider = fakePayments(api);
    const past = new Date(Date.now() - 60 * 60_000);
    const expired = await newOrder(30, past);
    const fresh = await newOrder(30);
    const result = await sweepExpiredOrders({ db: t.db, provider });
    expect(result.expired).toBeGreaterThanOrEqual(1);
    expect((await orderOf(expired.outTradeNo)).status).toBe('EXPIRED');
    expect((await orderOf(fresh.outTradeNo)).status).toBe('UNPAID');
  });

  it('confirms instead of expiring when Alipay says it was paid', async () => {
    const api = new FakeAlipayApi();
    const order = await newOrder(30, new Date(Date.now() - 60 * 60_000));
    api.responder = (method) => (method === 'alipay.trade.query' ? paidAnswer(order.outTradeNo) : notExist);
    const provider = fakePayments(api);
    await sweepExpiredOrders({ db: t.db, provider });
    expect(await orderOf(order.outTradeNo)).toMatchObject({ status: 'PAID', attention: null });
  });

  it('closes a trade still waiting at Alipay before expiring the order', async () => {
    const api = new FakeAlipayApi();
    const order = await newOrder(30, new Date(Date.now() - 60 * 60_000));
    api.responder = (method) =>
      method === 'alipay.trade.query'
        ? { ...paidAnswer(order.outTradeNo), trade_status: 'WAIT_BUYER_PAY', send_pay_date: undefined }
        : { code: '10000', msg: 'Success', trade_no: '2026112522001446880500009999', out_trade_no: order.outTradeNo };
    const provider = fakePayments(api);
    await sweepExpiredOrders({ db: t.db, provider });
    expect(api.callsOf('alipay.trade.close')).toHaveLength(1);
    expect((await orderOf(order.outTradeNo)).status).toBe('EXPIRED');
  });

  it('keeps the order for the next sweep when Alipay cannot be asked', async () => {
    const api = new FakeAlipayApi();
    api.responder = () => new Error('timeout');
    const provider = fakePayments(api);
    const order = await newOrder(30, new Date(Date.now() - 60 * 60_000));
    const result = await sweepExpiredOrders({ db: t.db, provider });
    expect(result.failed).toBeGreaterThanOrEqual(1);
    expect((await orderOf(order.outTradeNo)).status).toBe('UNPAID');
    // …and expires it once Alipay answers (on a later sweep: an order is not asked about twice in 10 s).
    api.responder = () => notExist;
    await sweepExpiredOrders({ db: t.db, provider }, { now: new Date(Date.now() + 11_000) });
    expect((await orderOf(order.outTradeNo)).status).toBe('EXPIRED');
  });

  it('expires on read too', async () => {
    const api = new FakeAlipayApi();
    api.responder = () => notExist;
    const app = buildApp(t.db, { payments: fakePayments(api) });
    const order = await newOrder(30, new Date(Date.now() - 60 * 60_000));
    const res = await request(app).get(`/orders/${order.outTradeNo}`).set('Accept', 'application/json').expect(200);
    expect(res.body.status).toBe('EXPIRED');
  });

  it('on read, asks Alipay at most once per 10 s while it is unreachable, and still shows the order', async () => {
    const api = new FakeAlipayApi();
    api.responder = () => new Error('connect ECONNREFUSED');
    const app = buildApp(t.db, { payments: fakePayments(api) });
    const order = await newOrder(30, new Date(Date.now() - 60 * 60_000));
    for (let i = 0; i < 3; i++) {
      const res = await request(app).get(`/orders/${order.outTradeNo}`).set('Accept', 'application/json').expect(200);
      expect(res.body.status).toBe('UNPAID');
    }
    expect(api.callsOf('alipay.trade.query')).toHaveLength(1);
  });

  it('does not take a trade closed after payment (a full refund) for a never-paid one', async () => {
    const api = new FakeAlipayApi();
    const order = await newOrder(30, new Date(Date.now() - 60 * 60_000));
    api.responder = () => ({ ...paidAnswer(order.outTradeNo), trade_status: 'TRADE_CLOSED' });
    const provider = fakePayments(api);
    await sweepExpiredOrders({ db: t.db, provider });
    expect(await orderOf(order.outTradeNo)).toMatchObject({ status: 'REFUNDED', refundedFen: 2_500 });
  });

  it('asks about the least recently checked orders first, so failing ones cannot starve the rest', async () => {
    const api = new FakeAlipayApi();
    const stuck = await newOrder(30, new Date(Date.now() - 90 * 60_000));
    const later = await newOrder(30, new Date(Date.now() - 60 * 60_000));
    api.responder = (_method, params) =>
      JSON.parse(params.get('biz_content')!).out_trade_no === stuck.outTradeNo ? new Error('timeout') : notExist;
    const provider = fakePayments(api);
    await sweepExpiredOrders({ db: t.db, provider }, { limit: 1 });
    expect((await orderOf(stuck.outTradeNo)).status).toBe('UNPAID');
    await sweepExpiredOrders({ db: t.db, provider }, { limit: 1, now: new Date(Date.now() + 11_000) });
    expect((await orderOf(later.outTradeNo)).status).toBe('EXPIRED');
  });
});
