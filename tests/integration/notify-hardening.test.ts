import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { signNotification } from '../../src/alipay/index.js';
import { placeOrder } from '../../src/shop/orders.js';
import { rejectedNotifications, REJECTED_KEPT_CHARS } from '../../src/web/routes/alipay.js';
import { alipayKeys, fakePayments, notifyFields, NOTIFY_CONTENT_TYPE, signAsAlipay } from '../support/alipay.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();
let goodsId: number;

beforeAll(async () => {
  goodsId = (await t.db.goods.create({ data: { name: 'Hardened tea', priceFen: 1_900 } })).id;
});

const newOrder = (quantity = 1) => placeOrder(t.db, { lines: [{ goodsId, quantity }], ttlMinutes: 30 });
const orderOf = (outTradeNo: string) => t.db.order.findUniqueOrThrow({ where: { outTradeNo } });
const eventsOf = (outTradeNo: string) => t.db.paymentEvent.findMany({ where: { outTradeNo }, orderBy: { id: 'asc' } });

function notifier(app = buildApp(t.db), from = '198.51.100.1') {
  return (body: string | Buffer) => request(app).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).set('X-Forwarded-For', from).send(body);
}

async function counted(stored: 'true' | 'false') {
  const metric = await rejectedNotifications.get();
  return metric.values.find((v) => v.labels.stored === stored)?.value ?? 0;
}

describe('unverifiable notification bodies (what a stranger can make us store)', () => {
  it('are kept bounded: the first 2 KiB, the hints and the reason with the size received', async () => {
    const order = await newOrder();
    const junk = `out_trade_no=${order.outTradeNo}&notify_id=n-big&junk=${'x'.repeat(200_000)}`;
    await notifier()(junk).expect(400, 'fail');
    const [event] = await eventsOf(order.outTradeNo);
    expect(event).toMatchObject({ verified: false, outcome: 'rejected', notifyId: 'n-big' });
    expect(event!.rawBody.length).toBeLessThanOrEqual(REJECTED_KEPT_CHARS + 1);
    expect(event!.reason).toMatch(/\(\d{6} bytes received\)/);
    expect((await orderOf(order.outTradeNo)).status).toBe('UNPAID');
  });

  it('are stored at most N per source address per window, the rest only counted; a genuine notification is never refused', async () => {
    const app = buildApp(t.db, { env: { REJECTED_NOTIFY_STORED_PER_IP_PER_10_MIN: '3', TRUST_PROXY: 'true' } });
    const flood = notifier(app, '198.51.100.77');
    const before = await t.db.paymentEvent.count();
    const droppedBefore = await counted('false');
    for (let i = 0; i < 10; i++) await flood(`out_trade_no=flood-${i}&sign=AAAA`).expect(400, 'fail');
    expect((await t.db.paymentEvent.count()) - before).toBe(3);
    expect((await counted('false')) - droppedBefore).toBe(7);
    // Another address still gets its junk recorded (the limit is per address).
    await notifier(app, '198.51.100.78')('out_trade_no=other&sign=AAAA').expect(400);
    expect((await t.db.paymentEvent.count()) - before).toBe(4);
    // A genuine notification from the flooded address is verified and applied regardless.
    const order = await newOrder();
    await flood(signAsAlipay(notifyFields(order))).expect(200, 'success');
    expect((await orderOf(order.outTradeNo)).status).toBe('PAID');
  });

  it('answers 413 to a body over 256 KiB and stores nothing', async () => {
    const before = await t.db.paymentEvent.count();
    const res = await notifier()(`a=${'x'.repeat(300 * 1024)}`);
    expect(res.status).toBe(413);
    expect(await t.db.paymentEvent.count()).toBe(before);
  });
});

describe('notifications that look right but must be refused', () => {
  it('with ALIPAY_SIGN_TYPE=RSA2, a notification signed RSA (SHA-1) with Alipay’s real key is refused', async () => {
    const order = await newOrder();
    const sha1 = signNotification(notifyFields(order), alipayKeys.privateKey, { signType: 'RSA' });
    await notifier()(sha1).expect(400, 'fail');
    expect((await orderOf(order.outTradeNo)).status).toBe('UNPAID');
    const [event] = await eventsOf(order.outTradeNo);
    expect(event!.reason).toMatch(/sign_type RSA is not the configured ALIPAY_SIGN_TYPE RSA2/);
    // …and an app configured for RSA accepts it.
    const legacy = buildApp(t.db, { payments: fakePayments(undefined, { signType: 'RSA' }) });
    await notifier(legacy)(sha1).expect(200, 'success');
  });

  it('without seller_id while ALIPAY_SELLER_ID is set → refused, order unchanged', async () => {
    const order = await newOrder();
    const { seller_id: _dropped, ...fields } = notifyFields(order);
    await notifier()(signAsAlipay(fields)).expect(400, 'fail');
    expect((await orderOf(order.outTradeNo)).status).toBe('UNPAID');
    expect((await eventsOf(order.outTradeNo))[0]).toMatchObject({ verified: true, outcome: 'rejected', reason: 'seller_id is missing' });
  });

  it('with a trade_no already owned by another order → refused and recorded; the other order keeps it', async () => {
    const first = await newOrder();
    const second = await newOrder();
    const firstFields = notifyFields(first);
    await notifier()(signAsAlipay(firstFields)).expect(200, 'success');
    await notifier()(signAsAlipay(notifyFields(second, { trade_no: firstFields.trade_no! }))).expect(400, 'fail');
    expect(await orderOf(second.outTradeNo)).toMatchObject({ status: 'UNPAID', tradeNo: null });
    expect(await orderOf(first.outTradeNo)).toMatchObject({ status: 'PAID', tradeNo: firstFields.trade_no });
    const events = await eventsOf(second.outTradeNo);
    expect(events.at(-1)).toMatchObject({ verified: true, outcome: 'rejected', reason: `trade_no ${firstFields.trade_no} already belongs to another order` });
  });
});

describe('refund notifications, edge cases', () => {
  const refund = (order: { outTradeNo: string; totalFen: number }, fee: string, status = 'TRADE_SUCCESS') =>
    notifyFields(order, { trade_status: status, refund_fee: fee, gmt_refund: '2026-11-25 20:00:00.123', out_biz_no: `R${fee}` });

  it('a refund for an order we never saw paid: the payment is recorded (never dropped), then the refund', async () => {
    const order = await newOrder();
    await notifier()(signAsAlipay(refund(order, '5.00'))).expect(200, 'success');
    expect(await orderOf(order.outTradeNo)).toMatchObject({ status: 'PAID', refundedFen: 500 });
  });

  it('refund_fee above the total counts as a full refund, never more than was paid', async () => {
    const order = await newOrder();
    await notifier()(signAsAlipay(notifyFields(order))).expect(200, 'success');
    await notifier()(signAsAlipay(refund(order, '99.00', 'TRADE_CLOSED'))).expect(200, 'success');
    expect(await orderOf(order.outTradeNo)).toMatchObject({ status: 'REFUNDED', refundedFen: 1_900 });
  });

  it('a partial refund arriving after the full one changes nothing', async () => {
    const order = await newOrder();
    await notifier()(signAsAlipay(notifyFields(order))).expect(200, 'success');
    await notifier()(signAsAlipay(refund(order, '19.00', 'TRADE_CLOSED'))).expect(200, 'success');
    await notifier()(signAsAlipay(refund(order, '5.00'))).expect(200, 'success');
    expect(await orderOf(order.outTradeNo)).toMatchObject({ status: 'REFUNDED', refundedFen: 1_900 });
    expect((await eventsOf(order.outTradeNo)).map((e) => e.outcome)).toEqual(['applied', 'applied', 'duplicate']);
  });
});

describe('a database failure at commit time', () => {
  it('rolls the transaction back and does not answer success (Alipay will retry)', async () => {
    const order = await newOrder();
    await t.sql(`
      CREATE OR REPLACE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'simulated failure at commit'; END $$`);
    await t.sql(`
      CREATE CONSTRAINT TRIGGER fail_commit AFTER UPDATE ON orders DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW WHEN (NEW.out_trade_no = '${order.outTradeNo}') EXECUTE FUNCTION fail_commit()`);
    try {
      // Both paths: the one-statement fast path, and the transaction (taken when something subscribes to orderPaid).
      const plain = buildApp(t.db);
      const subscribed = buildApp(t.db, { events: { orderPaid: async () => {} } });
      for (const app of [plain, subscribed]) {
        const res = await notifier(app)(signAsAlipay(notifyFields(order)));
        expect(res.status).toBeGreaterThanOrEqual(500);
        expect(res.text).not.toContain('success');
        expect(await orderOf(order.outTradeNo)).toMatchObject({ status: 'UNPAID', tradeNo: null });
        expect(await eventsOf(order.outTradeNo)).toHaveLength(0);
      }
    } finally {
      await t.sql('DROP TRIGGER fail_commit ON orders');
    }
    await notifier()(signAsAlipay(notifyFields(order))).expect(200, 'success');
  });
});
