import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { beijingDate } from '../../src/lib/beijing-time.js';
import type { BillEntry, TradeBillOutcome } from '../../src/shop/payments/reconciliation.js';
import { placeOrder } from '../../src/shop/orders.js';
import { FakeAlipayApi, fakePayments, notifyFields, NOTIFY_CONTENT_TYPE, signAsAlipay } from '../support/alipay.js';
import { signedInOperator } from '../support/admin.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();
let app: ReturnType<typeof buildApp>;
let goodsId: number;
let bill: TradeBillOutcome = { kind: 'not-ready', reason: 'isp.bill_not_exist' };

beforeAll(async () => {
  goodsId = (await t.db.goods.create({ data: { name: 'Reconciled tea', priceFen: 1_500 } })).id;
  const payments = { ...fakePayments(new FakeAlipayApi()), tradeBill: async () => bill };
  app = buildApp(t.db, { payments, env: { TRUST_PROXY: 'true' } });
});

const today = beijingDate(new Date());
const entry = (outTradeNo: string, tradeNo: string, amountFen: number): BillEntry => ({ kind: 'payment', outTradeNo, tradeNo, amountFen, at: new Date(), raw: 'test bill' });

describe('reconciliation in the console', () => {
  it('an admin runs a day: the run is listed, its differences link to the orders, and a missed payment is confirmed', async () => {
    const paid = await placeOrder(t.db, { lines: [{ goodsId, quantity: 1 }], ttlMinutes: 30 });
    const fields = notifyFields(paid);
    await request(app).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).send(signAsAlipay(fields)).expect(200, 'success');
    const missed = await placeOrder(t.db, { lines: [{ goodsId, quantity: 2 }], ttlMinutes: 30 });
    bill = {
      kind: 'bill',
      entries: [entry(paid.outTradeNo, fields.trade_no!, 1_500), entry(missed.outTradeNo, '2026112722001400000000000002', 3_000), entry('NOT_OURS_1', '2026112722001400000000000003', 100)],
    };
    const op = await signedInOperator(app, t.db);
    await op.post('/admin/reconciliation/run', { date: today }).expect(303);
    expect((await t.db.order.findUniqueOrThrow({ where: { id: missed.id } })).status).toBe('PAID');

    const list = await op.agent.get('/admin/reconciliation').expect(200);
    expect(list.text).toContain(`href="/admin/reconciliation/${today}"`);
    const json = await op.agent.get(`/admin/reconciliation/${today}`).set('Accept', 'application/json').expect(200);
    expect(json.body).toMatchObject({ date: today, status: 'DIFFERENCES', confirmed: 1, bill: { payments: { count: 3, amount: '46.00' } } });
    expect(json.body.differences).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'PAID_NOT_RECORDED', resolution: 'confirmed', outTradeNo: missed.outTradeNo }),
        expect.objectContaining({ kind: 'UNKNOWN_PAYMENT', resolution: 'flagged', outTradeNo: 'NOT_OURS_1' }),
      ]),
    );
    const page = await op.agent.get(`/admin/reconciliation/${today}`).expect(200);
    expect(page.text).toContain(`href="/admin/orders/${missed.outTradeNo}"`);
  });

  it('says when Alipay has no bill yet, refuses bad dates, and a viewer cannot run a day', async () => {
    bill = { kind: 'not-ready', reason: 'isp.bill_not_exist' };
    const op = await signedInOperator(app, t.db);
    const before = await t.db.reconciliationRun.count();
    const notReady = await op.post('/admin/reconciliation/run', { date: '2026-11-26' }).set('Accept', 'application/json').expect(409);
    expect(notReady.body.error.message).toMatch(/no bill for 2026-11-26 yet/);
    await op.post('/admin/reconciliation/run', { date: '2026-13-45' }).expect(400);
    await op.post('/admin/reconciliation/run', { date: 'yesterday' }).expect(400);
    await op.agent.get('/admin/reconciliation/2020-01-01').expect(404);
    const viewer = await signedInOperator(app, t.db, { role: 'viewer' });
    await viewer.post('/admin/reconciliation/run', { date: today }).expect(403);
    expect(await t.db.reconciliationRun.count()).toBe(before);
  });
});
