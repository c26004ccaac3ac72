import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SYSTEM_ACTOR } from '../../src/shop/operator-actions.js';
import { AlipayBillError } from '../../src/alipay/bill.js';
import { getReconciliationRun, reconcileDate, type BillEntry, type BillSource } from '../../src/shop/payments/reconciliation.js';
import { newRefundFormToken, refundOrder } from '../../src/shop/payments/refunds.js';
import { useBillDays, useSandboxHarness } from '../support/sandbox-harness.js';

// Refunds are matched per request (out_request_no) against the sandbox's real bill.
const h = useSandboxHarness();
const days = useBillDays(h);
const { deps, reconcileNextMorning } = days;
const DAY = 24 * 60 * 60 * 1000;
const newNo = () => `R${randomBytes(8).toString('hex')}`;

/** An order paid at the sandbox and here, as after a delivered notification. */
async function paidInBoth(fen: number) {
  const outTradeNo = newNo();
  await h.paidTrade({ outTradeNo, totalAmountFen: fen });
  const trade = await h.db.sandboxTrade.findFirstOrThrow({ where: { outTradeNo } });
  const order = await h.db.order.create({
    data: { outTradeNo, totalFen: fen, subject: 'Tea', status: 'PAID', expiresAt: h.state.clock, tradeNo: trade.tradeNo, paidAt: trade.paidAt },
  });
  return { order, trade };
}

/** A refund through the console's path (a row in refunds, sent to the sandbox, settled), made on the test's day. */
async function consoleRefund(outTradeNo: string, amountFen: number) {
  const { refund } = await refundOrder(deps(), { outTradeNo, amountFen, reason: '', formToken: newRefundFormToken(), actor: SYSTEM_ACTOR });
  expect(refund.status).toBe('SUCCEEDED');
  return h.db.refund.update({ where: { id: refund.id }, data: { createdAt: h.state.clock } });
}

async function refundOutside(tradeId: number, amount: string) {
  h.advance(1_000);
  await h.press(`/sandbox/console/trades/${tradeId}/refund-outside`, { amount }).expect(303);
  return h.db.sandboxRefund.findFirstOrThrow({ where: { tradeId }, orderBy: { id: 'desc' } });
}

describe('refunds are reconciled per refund request', () => {
  it('a refund in the bill whose request is not ours is flagged on its own, next to a matched console refund of the same order', async () => {
    const { order, trade } = await paidInBoth(1000);
    const ours = await consoleRefund(order.outTradeNo, 300);
    const portal = await refundOutside(trade.id, '2.00');

    const { run, detail } = await reconcileNextMorning();
    expect(detail.differences).toMatchObject([
      { kind: 'REFUND_NOT_RECORDED', resolution: 'flagged', orderId: order.id, outRequestNo: portal.outRequestNo, billFen: 200, shopFen: 0 },
    ]);
    expect(run.bill.refunds).toEqual({ count: 2, fen: 500 });
    expect(run.matched.refunds).toEqual({ count: 1, fen: 300 });
    expect(run.shop.refunds).toEqual({ count: 1, fen: 300 });
    expect(ours.outRequestNo).toMatch(/^RF/);
    expect((await h.db.order.findUniqueOrThrow({ where: { id: order.id } })).refundedFen).toBe(300);
  });

  it('refunds known only from a notification (no row in refunds) match bill refunds up to the notified amount, oldest first', async () => {
    const { order, trade } = await paidInBoth(1000);
    const first = await refundOutside(trade.id, '3.00');
    const second = await refundOutside(trade.id, '2.00');
    // As Alipay's refund notification leaves it: refund_fee is cumulative, out_biz_no is not kept.
    await h.db.order.update({ where: { id: order.id }, data: { refundedFen: 300, refundedAt: h.state.clock } });

    const { run, detail } = await reconcileNextMorning();
    expect(detail.differences).toHaveLength(1);
    expect(detail.differences[0]).toMatchObject({ kind: 'REFUND_NOT_RECORDED', outRequestNo: second.outRequestNo, billFen: 200, shopFen: 0 });
    expect(detail.differences[0]?.detail).toContain('notifications');
    expect(first.outRequestNo).not.toBe(second.outRequestNo);
    expect(run.matched.refunds).toEqual({ count: 1, fen: 300 });
    expect(run.shop.refunds).toEqual({ count: 1, fen: 300 });
  });

  it('a refund request recorded here as refunded that the bill does not have is flagged with its request number', async () => {
    const { order } = await paidInBoth(800);
    const ghost = await h.db.refund.create({
      data: { orderId: order.id, outRequestNo: `RF${randomBytes(8).toString('hex')}`, tradeNo: order.tradeNo!, amountFen: 100, reason: '', status: 'SUCCEEDED', createdAt: h.state.clock, settledAt: h.state.clock },
    });
    await h.db.order.update({ where: { id: order.id }, data: { refundedFen: 100, refundedAt: h.state.clock } });
    // Still being processed: not a refund yet, so not expected in the bill.
    await h.db.refund.create({
      data: { orderId: order.id, outRequestNo: `RF${randomBytes(8).toString('hex')}`, tradeNo: order.tradeNo!, amountFen: 50, reason: '', createdAt: h.state.clock },
    });

    const { run, detail } = await reconcileNextMorning();
    expect(detail.differences).toMatchObject([
      { kind: 'REFUND_NOT_IN_BILL', resolution: 'flagged', orderId: order.id, outRequestNo: ghost.outRequestNo, billFen: null, shopFen: 100, shopStatus: 'PAID' },
    ]);
    expect(run.shop.refunds).toEqual({ count: 1, fen: 100 });
    expect(run.bill.refunds).toEqual({ count: 0, fen: 0 });
  });

  it('the same request with another amount in the bill than here is a refund amount mismatch; a request still PENDING here is not recorded', async () => {
    const a = await paidInBoth(1000);
    const outRequestNo = `RF${randomBytes(8).toString('hex')}`;
    expect((await h.client.refund({ outTradeNo: a.order.outTradeNo, refundAmountFen: 200, outRequestNo })).kind).toBe('refunded');
    await h.db.refund.create({
      data: { orderId: a.order.id, outRequestNo, tradeNo: a.order.tradeNo!, amountFen: 250, reason: '', status: 'SUCCEEDED', createdAt: h.state.clock, settledAt: h.state.clock },
    });
    await h.db.order.update({ where: { id: a.order.id }, data: { refundedFen: 250, refundedAt: h.state.clock } });

    h.advance(1_000);
    const b = await paidInBoth(600);
    const pendingNo = `RF${randomBytes(8).toString('hex')}`;
    expect((await h.client.refund({ outTradeNo: b.order.outTradeNo, refundAmountFen: 600, outRequestNo: pendingNo })).kind).toBe('refunded');
    await h.db.refund.create({ data: { orderId: b.order.id, outRequestNo: pendingNo, tradeNo: b.order.tradeNo!, amountFen: 600, reason: '', createdAt: h.state.clock } });

    const { run, detail } = await reconcileNextMorning();
    expect(detail.differences).toMatchObject([
      { kind: 'REFUND_AMOUNT_MISMATCH', orderId: a.order.id, outRequestNo, billFen: 200, shopFen: 250 },
      { kind: 'REFUND_NOT_RECORDED', orderId: b.order.id, outRequestNo: pendingNo, billFen: 600, shopFen: 600 },
    ]);
    expect(detail.differences[1]?.detail).toContain('PENDING');
    expect(run.matched.refunds).toEqual({ count: 0, fen: 0 });
    expect(run.matched.payments).toEqual({ count: 2, fen: 1600 });
  });
});

describe('a bill that turns out malformed while it is read', () => {
  it('stores nothing and confirms nothing: the earlier run of the date stays whole', async () => {
    const unpaid = await h.db.order.create({ data: { outTradeNo: newNo(), totalFen: 990, subject: 'Tea', expiresAt: h.state.clock } });
    const ghost = await h.db.order.create({
      data: { outTradeNo: newNo(), totalFen: 500, subject: 'Tea', status: 'PAID', expiresAt: h.state.clock, tradeNo: `2026${randomBytes(10).toString('hex')}`, paidAt: h.state.clock },
    });
    const empty: BillSource = { tradeBill: async () => ({ kind: 'bill', entries: [] }) };
    const first = await reconcileDate({ db: h.db, provider: days.payments(), bills: empty }, days.date());
    expect(first).toMatchObject({ kind: 'done', run: { differenceCount: 1 } });

    const payment: BillEntry = { kind: 'payment', outTradeNo: unpaid.outTradeNo, tradeNo: '2026112722001400000000000009', amountFen: 990, at: h.state.clock, raw: 'line 6' };
    async function* cutShort(): AsyncGenerator<BillEntry> {
      yield payment;
      yield { ...payment, kind: 'refund', outRequestNo: 'X', raw: 'line 7' };
      throw new AlipayBillError('no end marker: the file is truncated', { file: 'x_业务明细.csv', line: 9 });
    }
    const broken: BillSource = { tradeBill: async () => ({ kind: 'bill', entries: cutShort() }) };
    await expect(reconcileDate({ db: h.db, provider: days.payments(), bills: broken }, days.date())).rejects.toThrow(/line 9/);

    expect((await h.db.order.findUniqueOrThrow({ where: { id: unpaid.id } })).status).toBe('UNPAID');
    const kept = await getReconciliationRun(h.db, days.date());
    expect(kept).toMatchObject({ id: first.kind === 'done' ? first.run.id : -1, differenceCount: 1, confirmedCount: 0 });
    expect(kept.differences).toMatchObject([{ kind: 'NOT_IN_BILL', orderId: ghost.id }]);
    // The connection the failed run used is not handed out again half-way through its COPY.
    const again = await reconcileDate({ db: h.db, provider: days.payments(), bills: empty }, days.date());
    expect(again).toMatchObject({ kind: 'done', run: { differenceCount: 1 } });
  });
});
