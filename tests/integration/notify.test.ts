import iconv from 'iconv-lite';
import pg from 'pg';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeForm, generateRsaKeyPair, signNotification } from '../../src/alipay/index.js';
import { placeOrder } from '../../src/shop/orders.js';
import { alipayKeys, APP_ID, fakePayments, notifyFields, NOTIFY_CONTENT_TYPE, SELLER_ID, signAsAlipay } from '../support/alipay.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();
let app: ReturnType<typeof buildApp>;
let goodsId: number;

beforeAll(async () => {
  goodsId = (await t.db.goods.create({ data: { name: 'Notified tea', priceFen: 1_900 } })).id;
  app = buildApp(t.db);
});

async function newOrder(quantity = 1) {
  return placeOrder(t.db, { lines: [{ goodsId, quantity }], ttlMinutes: 30 });
}

function notify(body: string | Buffer, contentType = NOTIFY_CONTENT_TYPE) {
  return request(app).post('/alipay/notify').set('Content-Type', contentType).send(body);
}

const orderOf = (outTradeNo: string) => t.db.order.findUniqueOrThrow({ where: { outTradeNo } });
const eventsOf = (outTradeNo: string) => t.db.paymentEvent.findMany({ where: { outTradeNo }, orderBy: { id: 'asc' } });

describe('a paid notification', () => {
  it('marks the order PAID with trade_no, buyer and payment time, and answers exactly "success"', async () => {
    const order = await newOrder();
    const fields = notifyFields(order, { gmt_payment: '2026-11-25 18:30:05' });
    const res = await notify(signAsAlipay(fields)).expect(200);
    expect(res.text).toBe('success');
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const paid = await orderOf(order.outTradeNo);
    expect(paid).toMatchObject({ status: 'PAID', tradeNo: fields.trade_no, buyerLogonId: 'buy***@sandbox.com', attention: null });
    expect(paid.paidAt?.toISOString()).toBe('2026-11-25T10:30:05.000Z'); // Beijing 18:30:05
    const [event] = await eventsOf(order.outTradeNo);
    expect(event).toMatchObject({ source: 'NOTIFY', verified: true, outcome: 'applied', notifyId: fields.notify_id, tradeStatus: 'TRADE_SUCCESS' });
    expect(event!.rawBody).toContain('sign=');
  });

  it('when the same notification arrives 3 times, the order is paid once and every reply is success', async () => {
    const order = await newOrder();
    const body = signAsAlipay(notifyFields(order));
    for (let i = 0; i < 3; i++) expect((await notify(body).expect(200)).text).toBe('success');
    const events = await eventsOf(order.outTradeNo);
    expect(events.map((e) => e.outcome)).toEqual(['applied', 'duplicate', 'duplicate']);
    expect((await orderOf(order.outTradeNo)).status).toBe('PAID');
  });

  // Forced interleaving: a warm pool, and a barrier — a lock that lets every copy read the order
  // but holds every write until all 20 are waiting — so a read-then-write would apply 20 times.
  it.each([
    ['the one-statement path', false],
    ['the transaction path (a subscriber to orderPaid)', true],
  ])('when 20 copies arrive at once (%s), exactly one transition happens and all get success, round after round', async (_name, subscribed) => {
    const paidEvents: number[] = [];
    const target = subscribed ? buildApp(t.db, { events: { orderPaid: async (_tx, e) => void paidEvents.push(e.orderId) } }) : app;
    await Promise.all(Array.from({ length: 20 }, () => t.db.$executeRaw`SELECT pg_sleep(0.02)`));
    for (let round = 0; round < 3; round++) {
      const order = await newOrder(2);
      const body = signAsAlipay(notifyFields(order));
      const barrier = new pg.Client({ connectionString: t.url });
      await barrier.connect();
      let replies: request.Response[];
      try {
        await barrier.query('BEGIN');
        await barrier.query('LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE');
        const pending = Promise.all(
          Array.from({ length: 20 }, () => request(target).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).send(body).then((r) => r)),
        );
        for (let i = 0; i < 200; i++) {
          const [{ waiting }] = (await barrier.query<{ waiting: number }>(
            `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )).rows as [{ waiting: number }];
          if (waiting >= 20) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        await barrier.query('COMMIT');
        replies = await pending;
      } finally {
        await barrier.end();
      }
      expect(replies.map((r) => `${r.status} ${r.text}`)).toEqual(Array(20).fill('200 success'));
      const events = await eventsOf(order.outTradeNo);
      expect(events).toHaveLength(20);
      expect(events.filter((e) => e.outcome === 'applied')).toHaveLength(1);
      expect(events.filter((e) => e.outcome === 'duplicate')).toHaveLength(19);
      if (subscribed) expect(paidEvents.filter((id) => id === order.id)).toHaveLength(1);
    }
  });

  it('accepts TRADE_FINISHED as paid too', async () => {
    const order = await newOrder();
    await notify(signAsAlipay(notifyFields(order, { trade_status: 'TRADE_FINISHED' }))).expect(200, 'success');
    expect((await orderOf(order.outTradeNo)).status).toBe('PAID');
  });

  it('verifies a GBK notification over its GBK bytes', async () => {
    const order = await newOrder();
    const body = signAsAlipay(notifyFields(order, { subject: '龙井绿茶', body: '西湖龙井 250克' }), { charset: 'GBK' });
    expect(body).toContain('charset=GBK');
    const res = await notify(body, 'application/x-www-form-urlencoded; text/html; charset=GBK').expect(200);
    expect(res.text).toBe('success');
    expect((await orderOf(order.outTradeNo)).status).toBe('PAID');
    expect(iconv.encode('龙井', 'gbk')).toHaveLength(4);
  });

  it('keeps %, + and & in passback_params intact through decoding and verification', async () => {
    const order = await newOrder();
    await notify(signAsAlipay(notifyFields(order, { passback_params: 'a=1&b=50%+off %25 x+y' }))).expect(200, 'success');
    expect((await orderOf(order.outTradeNo)).status).toBe('PAID');
  });

  it('does not refuse a genuine payment over an unreadable time field', async () => {
    const order = await newOrder();
    await notify(signAsAlipay(notifyFields(order, { gmt_payment: '2026-11-25T12:00:00', notify_time: 'soon' }))).expect(200, 'success');
    expect((await orderOf(order.outTradeNo)).status).toBe('PAID');
  });

  it('keeps an unverifiable notification even when it contains a NUL byte', async () => {
    const res = await notify('out_trade_no=%00abc&notify_id=%00&sign=x').expect(400);
    expect(res.text).toBe('fail');
    expect(await t.db.paymentEvent.count({ where: { outTradeNo: 'abc' } })).toBe(1);
  });

  it('accepts whatever Content-Type Alipay sends', async () => {
    const order = await newOrder();
    await notify(signAsAlipay(notifyFields(order)), 'text/plain').expect(200, 'success');
  });
});

describe('notifications that must not be acted on', () => {
  it.each([
    ['a bad signature', (f: Record<string, string>) => signNotification(f, generateRsaKeyPair().privateKey)],
    ['a tampered amount', (f: Record<string, string>) => signAsAlipay(f).replace(/total_amount=[^&]+/, 'total_amount=0.01')],
    ['no signature', (f: Record<string, string>) => encodeForm(f)],
  ])('%s → 400 fail, order unchanged, event kept as unverified', async (_name, build) => {
    const order = await newOrder();
    const res = await notify(build(notifyFields(order))).expect(400);
    expect(res.text).toBe('fail');
    expect((await orderOf(order.outTradeNo)).status).toBe('UNPAID');
    const [event] = await eventsOf(order.outTradeNo);
    expect(event).toMatchObject({ verified: false, outcome: 'rejected' });
  });

  it.each([
    ['an amount that differs from the order total', { total_amount: '0.01' }, /does not match/],
    ['another app_id', { app_id: '2021000000000001' }, /app_id/],
    ['another seller_id', { seller_id: '2088000000000001' }, /seller_id/],
  ])('%s → 400 fail, order unchanged', async (_name, change, reason) => {
    const order = await newOrder();
    const res = await notify(signAsAlipay(notifyFields(order, change))).expect(400);
    expect(res.text).toBe('fail');
    expect((await orderOf(order.outTradeNo)).status).toBe('UNPAID');
    const [event] = await eventsOf(order.outTradeNo);
    expect(event).toMatchObject({ verified: true, outcome: 'rejected' });
    expect(event!.reason).toMatch(reason);
  });

  it('an unknown order → 400 fail, event kept', async () => {
    const fields = notifyFields({ outTradeNo: '20261125000000000000000000000000', totalFen: 100 });
    const res = await notify(signAsAlipay(fields)).expect(400);
    expect(res.text).toBe('fail');
    const [event] = await eventsOf('20261125000000000000000000000000');
    expect(event?.reason).toMatch(/unknown out_trade_no/);
  });

  it('does not check seller_id when ALIPAY_SELLER_ID is not set', async () => {
    const appWithoutSeller = buildApp(t.db, { payments: fakePayments(undefined, { sellerId: undefined }) });
    const order = await newOrder();
    const body = signAsAlipay(notifyFields(order, { seller_id: '2088000000000001' }));
    await request(appWithoutSeller).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).send(body).expect(200, 'success');
  });

  it('garbage → 400 fail and kept', async () => {
    const res = await notify('%%%not a form').expect(400);
    expect(res.text).toBe('fail');
    const events = await t.db.paymentEvent.findMany({ where: { rawBody: '%%%not a form' } });
    expect(events).toHaveLength(1);
  });

  it('answers 5xx when the database is down, so Alipay retries', async () => {
    const { createDb } = await import('../../src/db/client.js');
    const deadDb = createDb('postgres://nobody:nothing@127.0.0.1:1/none');
    const down = buildApp(deadDb);
    const order = await newOrder();
    const res = await request(down).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).send(signAsAlipay(notifyFields(order)));
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(res.text).not.toBe('success');
  });
});

describe('other trade states', () => {
  it('WAIT_BUYER_PAY is acknowledged and changes nothing', async () => {
    const order = await newOrder();
    await notify(signAsAlipay(notifyFields(order, { trade_status: 'WAIT_BUYER_PAY', gmt_payment: '', trade_no: '2026112522001000000000000001' }))).expect(200, 'success');
    expect(await orderOf(order.outTradeNo)).toMatchObject({ status: 'UNPAID', tradeNo: null });
    expect((await eventsOf(order.outTradeNo))[0]?.outcome).toBe('acknowledged');
  });

  it('TRADE_CLOSED without refund closes an unpaid order', async () => {
    const order = await newOrder();
    await notify(signAsAlipay(notifyFields(order, { trade_status: 'TRADE_CLOSED', gmt_payment: '', gmt_close: '2026-11-25 19:00:00' }))).expect(200, 'success');
    expect((await orderOf(order.outTradeNo)).status).toBe('CLOSED');
  });

  it('TRADE_CLOSED does not touch a paid order', async () => {
    const order = await newOrder();
    await notify(signAsAlipay(notifyFields(order))).expect(200, 'success');
    await notify(signAsAlipay(notifyFields(order, { trade_status: 'TRADE_CLOSED', notify_id: 'other' }))).expect(200, 'success');
    expect((await orderOf(order.outTradeNo)).status).toBe('PAID');
  });

  it('records partial then full refunds; a repeated refund notification changes nothing', async () => {
    const order = await newOrder(2); // 38.00
    await notify(signAsAlipay(notifyFields(order))).expect(200, 'success');
    const partial = signAsAlipay(notifyFields(order, { refund_fee: '10.00', gmt_refund: '2026-11-25 20:00:00.123', out_biz_no: 'R1', notify_id: 'r1' }));
    await notify(partial).expect(200, 'success');
    await notify(partial).expect(200, 'success');
    expect(await orderOf(order.outTradeNo)).toMatchObject({ status: 'PAID', refundedFen: 1_000 });
    await notify(signAsAlipay(notifyFields(order, { trade_status: 'TRADE_CLOSED', refund_fee: '38.00', gmt_refund: '2026-11-25 20:05:00', gmt_close: '2026-11-25 20:05:00', out_biz_no: 'R2', notify_id: 'r2' }))).expect(200, 'success');
    expect(await orderOf(order.outTradeNo)).toMatchObject({ status: 'REFUNDED', refundedFen: 3_800 });
  });

  it('a payment for an order we already expired is never dropped: PAID and flagged for the operator', async () => {
    const order = await newOrder();
    await t.db.order.update({ where: { id: order.id }, data: { status: 'EXPIRED', closedAt: new Date() } });
    await notify(signAsAlipay(notifyFields(order))).expect(200, 'success');
    const paid = await orderOf(order.outTradeNo);
    expect(paid.status).toBe('PAID');
    expect(paid.attention).toMatch(/after the order was expired/);
  });

  it('a second, different trade paying the same order is flagged', async () => {
    const order = await newOrder();
    await notify(signAsAlipay(notifyFields(order))).expect(200, 'success');
    await notify(signAsAlipay(notifyFields(order, { trade_no: '2026112522001999999999999999', notify_id: 'second' }))).expect(200, 'success');
    expect((await orderOf(order.outTradeNo)).attention).toMatch(/second Alipay trade/);
  });
});

describe('the return redirect', () => {
  function returnQuery(order: { outTradeNo: string; totalFen: number }, key = alipayKeys.privateKey) {
    return signNotification(
      {
        method: 'alipay.trade.page.pay.return',
        app_id: APP_ID,
        auth_app_id: APP_ID,
        charset: 'utf-8',
        out_trade_no: order.outTradeNo,
        trade_no: '2026112522001446880500000777',
        total_amount: (order.totalFen / 100).toFixed(2),
        seller_id: SELLER_ID,
        timestamp: '2026-11-25 18:30:06',
        version: '1.0',
      },
      key,
    );
  }

  it('with a good signature redirects to the order page and marks nothing paid', async () => {
    const order = await newOrder();
    const res = await request(app).get(`/alipay/return?${returnQuery(order)}`).expect(302);
    expect(res.headers.location).toBe(`/orders/${order.outTradeNo}?returned=1`);
    expect((await orderOf(order.outTradeNo)).status).toBe('UNPAID');
    const page = await request(app).get(res.headers.location!).expect(200);
    expect(page.text).toContain('Confirming payment');
  });

  it('with a bad signature answers 400 and changes nothing', async () => {
    const order = await newOrder();
    const res = await request(app).get(`/alipay/return?${returnQuery(order, generateRsaKeyPair().privateKey)}`).expect(400);
    expect(res.text).toContain('could not verify the payment result');
    expect((await orderOf(order.outTradeNo)).status).toBe('UNPAID');
    await request(app).get('/alipay/return').expect(400);
  });
});
