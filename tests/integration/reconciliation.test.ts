import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { beijingDate } from '../../src/lib/beijing-time.js';
import type { OrderStatus } from '../../src/generated/prisma/client.js';
import { getReconciliationRun, listReconciliationRuns, reconcileDate, type BillEntry, type BillSource } from '../../src/shop/payments/reconciliation.js';
import { runDailyReconciliation } from '../../src/shop/payments/reconciliation-job.js';
import { createSandboxBills } from '../../src/sandbox/bill.js';
import { APP_ID, SELLER_ID, useBillDays, useSandboxHarness } from '../support/sandbox-harness.js';

const h = useSandboxHarness();
const days = useBillDays(h);
const { deps, reconcileNextMorning } = days;
const DAY = 24 * 60 * 60 * 1000;
const newNo = () => `R${randomBytes(8).toString('hex')}`;

async function shopOrder(o: { outTradeNo?: string; totalFen?: number; status?: OrderStatus; tradeNo?: string | null; paidAt?: Date | null; refundedFen?: number; refundedAt?: Date | null } = {}) {
  return h.db.order.create({
    data: {
      outTradeNo: o.outTradeNo ?? newNo(),
      totalFen: o.totalFen ?? 1230,
      subject: 'Tea',
      status: o.status ?? 'UNPAID',
      expiresAt: new Date(h.state.clock.getTime() + 30 * 60_000),
      tradeNo: o.tradeNo ?? null,
      paidAt: o.paidAt ?? null,
      refundedFen: o.refundedFen ?? 0,
      refundedAt: o.refundedAt ?? null,
    },
  });
}

/** Paid at the sandbox only (the shop's order, if any, is untouched). */
async function sandboxPaid(outTradeNo: string, fen = 1230) {
  await h.paidTrade({ outTradeNo, totalAmountFen: fen });
  return h.db.sandboxTrade.findFirstOrThrow({ where: { outTradeNo } });
}

/** An order paid both at the sandbox and here, as after a delivered notification. */
async function paidInBoth(fen = 1230) {
  const outTradeNo = newNo();
  const trade = await sandboxPaid(outTradeNo, fen);
  return shopOrder({ outTradeNo, totalFen: fen, status: 'PAID', tradeNo: trade.tradeNo, paidAt: trade.paidAt });
}

describe('reconciling a day against the sandbox bill', () => {
  it('when every payment and refund agrees, the run is MATCHED with matched totals per kind', async () => {
    await paidInBoth(1230);
    const refunded = await paidInBoth(500);
    h.advance(60_000);
    const r = await h.client.refund({ outTradeNo: refunded.outTradeNo, refundAmountFen: 200, outRequestNo: 'RF1' });
    expect(r.kind).toBe('refunded');
    await h.db.order.update({ where: { id: refunded.id }, data: { refundedFen: 200, refundedAt: h.state.clock } });

    const { run, detail } = await reconcileNextMorning();
    expect(detail.differences).toEqual([]);
    expect(run.status).toBe('MATCHED');
    expect(run.bill).toEqual({ payments: { count: 2, fen: 1730 }, refunds: { count: 1, fen: 200 } });
    expect(run.matched).toEqual(run.bill);
    expect(run.shop).toEqual(run.bill);
  });

  it('a payment whose notification was lost is confirmed from the bill, on the order timeline with source BILL', async () => {
    const unpaid = await shopOrder();
    const trade = await sandboxPaid(unpaid.outTradeNo);
    const expired = await shopOrder({ status: 'EXPIRED' });
    await sandboxPaid(expired.outTradeNo);

    const { run, detail } = await reconcileNextMorning();
    expect(run.status).toBe('DIFFERENCES');
    expect(run.confirmedCount).toBe(2);
    expect(detail.differences.map((d) => [d.kind, d.resolution, d.outTradeNo, d.shopStatus])).toEqual([
      ['PAID_NOT_RECORDED', 'confirmed', unpaid.outTradeNo, 'UNPAID'],
      ['PAID_NOT_RECORDED', 'confirmed', expired.outTradeNo, 'EXPIRED'],
    ]);
    const order = await h.db.order.findUniqueOrThrow({ where: { id: unpaid.id }, include: { events: true } });
    expect(order).toMatchObject({ status: 'PAID', tradeNo: trade.tradeNo, paidAt: trade.paidAt, attention: null });
    expect(order.events.map((e) => [e.source, e.outcome])).toEqual([['BILL', 'applied']]);
    expect(order.events[0]?.rawBody).toMatch(new RegExp(`^bill ${SELLER_ID}0156_${days.date().replaceAll('-', '')} line \\d+$`));
    // A payment after the order expired here is paid and flagged, as from a notification.
    const late = await h.db.order.findUniqueOrThrow({ where: { id: expired.id } });
    expect(late.status).toBe('PAID');
    expect(late.attention).toContain('expired');
  });

  it('a payment Alipay has for an order the shop never made (console injection) is flagged', async () => {
    await h.press('/sandbox/console/bill/payment', { amount: '8.88', out_trade_no: '' }).expect(303);
    const { detail } = await reconcileNextMorning();
    expect(detail.differences).toHaveLength(1);
    expect(detail.differences[0]).toMatchObject({ kind: 'UNKNOWN_PAYMENT', resolution: 'flagged', billFen: 888, orderId: null });
    expect(detail.differences[0]?.outTradeNo).toMatch(/^OUTSIDE_/);
  });

  it('an order PAID here that the bill does not have is flagged, never changed', async () => {
    const ghost = await shopOrder({ status: 'PAID', tradeNo: '2026000000000000000000000001', paidAt: h.state.clock });
    const { detail } = await reconcileNextMorning();
    expect(detail.differences).toMatchObject([{ kind: 'NOT_IN_BILL', resolution: 'flagged', orderId: ghost.id, shopFen: 1230, shopStatus: 'PAID' }]);
    expect((await h.db.order.findUniqueOrThrow({ where: { id: ghost.id } })).status).toBe('PAID');
  });

  it('an amount that differs is flagged and the order is not confirmed', async () => {
    const order = await shopOrder({ totalFen: 1000 });
    await sandboxPaid(order.outTradeNo, 1230);
    const { detail } = await reconcileNextMorning();
    expect(detail.differences).toMatchObject([{ kind: 'AMOUNT_MISMATCH', billFen: 1230, shopFen: 1000, orderId: order.id, shopStatus: 'UNPAID' }]);
    expect((await h.db.order.findUniqueOrThrow({ where: { id: order.id } })).status).toBe('UNPAID');
  });

  it('a refund made outside the shop (console) is flagged; a refund recorded here but not at Alipay too', async () => {
    const outside = await paidInBoth(1000);
    const trade = await h.db.sandboxTrade.findFirstOrThrow({ where: { outTradeNo: outside.outTradeNo } });
    await h.press(`/sandbox/console/trades/${trade.id}/refund-outside`, { amount: '3.00' }).expect(303);
    const onlyHere = await paidInBoth(700);
    await h.db.order.update({ where: { id: onlyHere.id }, data: { refundedFen: 700, refundedAt: h.state.clock, status: 'REFUNDED' } });

    const { run, detail } = await reconcileNextMorning();
    expect(detail.differences).toMatchObject([
      { kind: 'REFUND_NOT_RECORDED', orderId: outside.id, billFen: 300, shopFen: 0 },
      { kind: 'REFUND_NOT_IN_BILL', orderId: onlyHere.id, shopFen: 700, shopStatus: 'REFUNDED' },
    ]);
    expect(detail.differences[0]?.outRequestNo).toMatch(/^PORTAL/);
    expect(run.matched.payments).toEqual({ count: 2, fen: 1700 });
    expect((await h.db.order.findUniqueOrThrow({ where: { id: outside.id } })).refundedFen).toBe(0);
  });

  it('an order paid here by one trade and in the bill by another is flagged as paid twice', async () => {
    const outTradeNo = newNo();
    await sandboxPaid(outTradeNo);
    const order = await shopOrder({ outTradeNo, status: 'PAID', tradeNo: '2026000000000000000000000002', paidAt: h.state.clock });
    const { detail } = await reconcileNextMorning();
    expect(detail.differences).toMatchObject([{ kind: 'DUPLICATE', orderId: order.id }]);
  });

  it('re-running a date replaces its result atomically', async () => {
    const ghost = await shopOrder({ status: 'PAID', tradeNo: '2026000000000000000000000003', paidAt: h.state.clock });
    const first = await reconcileNextMorning();
    expect(first.run.differenceCount).toBe(1);
    await h.db.order.update({ where: { id: ghost.id }, data: { paidAt: new Date(h.state.clock.getTime() - 10 * DAY) } });

    const [a, b] = await Promise.all([reconcileDate(deps(), days.date()), reconcileDate(deps(), days.date())]);
    expect([a.kind, b.kind]).toEqual(['done', 'done']);
    const runs = await h.db.reconciliationRun.findMany({ where: { billDate: days.date() } });
    expect(runs).toHaveLength(1);
    expect(runs[0]?.status).toBe('MATCHED');
    expect(await h.db.reconciliationDifference.count({ where: { run: { billDate: days.date() } } })).toBe(0);
    expect((await listReconciliationRuns(h.db)).find((r) => r.date === days.date())?.status).toBe('MATCHED');
  });

  it('today and future dates have no bill yet: nothing is stored', async () => {
    await paidInBoth();
    const today = await reconcileDate(deps(), days.date());
    expect(today).toMatchObject({ kind: 'not-ready' });
    expect(today.kind === 'not-ready' && today.reason).toContain('isp.bill_not_exist');
    expect(await reconcileDate(deps(), '2099-01-01')).toMatchObject({ kind: 'not-ready' });
    expect(await h.db.reconciliationRun.count({ where: { billDate: days.date() } })).toBe(0);
  });
});

describe('the sandbox bill download', () => {
  it('is a short-lived link that only the signed answer gives', async () => {
    await paidInBoth();
    h.advance(DAY);
    const answer = await h.client.downloadBillUrl(days.date());
    if (answer.kind !== 'url') throw new Error('expected a URL');
    const url = new URL(answer.url);
    expect(url.searchParams.get('downloadFileName')).toBe(`${SELLER_ID}0156_${days.date().replaceAll('-', '')}.csv.zip`);
    const path = url.pathname + url.search;
    const ok = await request(h.app).get(path).buffer(true).parse((res, cb) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => cb(null, Buffer.concat(chunks)));
    }).expect(200);
    expect((ok.body as Buffer).subarray(0, 2).toString()).toBe('PK');
    await request(h.app).get(path.replace(/token=[^&]+/, 'token=forged')).expect(403);
    h.advance(31_000);
    await request(h.app).get(path).expect(410);
  });
});

describe('SANDBOX_BILL_TODAY', () => {
  it("makes today's bill (so far) available; the future still has none", async () => {
    const ctx = { db: h.db, appId: APP_ID, sellerId: SELLER_ID, now: () => h.state.clock };
    const keys = { alipayPrivateKey: h.alipayKeys.privateKey, alipayPublicKey: h.alipayKeys.publicKey, basePath: '/sandbox' };
    const today = createSandboxBills({ ctx, ...keys, billToday: true });
    const answer = await today.downloadUrlQuery({ bill_type: 'trade', bill_date: days.date() }, { origin: 'http://sandbox.test' });
    expect(answer['bill_download_url']).toMatch(/^http:\/\/sandbox\.test\/sandbox\/downloadBillFile\.resource\?/);
    const tomorrow = beijingDate(new Date(h.state.clock.getTime() + DAY));
    await expect(today.downloadUrlQuery({ bill_type: 'trade', bill_date: tomorrow }, { origin: 'http://sandbox.test' })).rejects.toThrow(/isp.bill_not_exist/);
    const normal = createSandboxBills({ ctx, ...keys, billToday: false });
    await expect(normal.downloadUrlQuery({ bill_type: 'trade', bill_date: days.date() }, { origin: 'http://sandbox.test' })).rejects.toThrow(/isp.bill_not_exist/);
  });
});

describe('a bill with the same trade twice', () => {
  it('flags the repeated trade and refund rows as DUPLICATE', async () => {
    const order = await paidInBoth();
    const at = h.state.clock;
    const payment: BillEntry = { kind: 'payment', outTradeNo: order.outTradeNo, tradeNo: order.tradeNo!, amountFen: 1230, at, raw: 'line 6' };
    const refund: BillEntry = { kind: 'refund', outTradeNo: order.outTradeNo, tradeNo: order.tradeNo!, amountFen: 10, at, outRequestNo: 'X1', raw: 'line 8' };
    await h.db.order.update({ where: { id: order.id }, data: { refundedFen: 10, refundedAt: at } });
    const bills: BillSource = { tradeBill: async () => ({ kind: 'bill', entries: [payment, { ...payment, raw: 'line 7' }, refund, { ...refund, raw: 'line 9' }] }) };
    const result = await reconcileDate({ db: h.db, provider: days.payments(), bills }, days.date());
    if (result.kind !== 'done') throw new Error('expected a run');
    const detail = await getReconciliationRun(h.db, days.date());
    expect(detail.differences.map((d) => d.kind)).toEqual(['DUPLICATE', 'DUPLICATE']);
    expect(detail.differences[0]?.detail).toContain('appears twice');
    expect(result.run.matched).toEqual({ payments: { count: 1, fen: 1230 }, refunds: { count: 1, fen: 10 } });
  });
});

describe('the daily job', () => {
  const notReady: BillSource = { tradeBill: async () => ({ kind: 'not-ready', reason: 'no bill yet' }) };

  it('waits for 09:30 Beijing, is claimed by one instance, and retries later while the bill is not ready', async () => {
    // 09:00 Beijing: too early.
    const morning = new Date(`${days.date()}T01:00:00Z`);
    const jobDeps = { db: h.db, provider: days.payments(), bills: notReady };
    expect(await runDailyReconciliation(jobDeps, { now: () => morning })).toEqual({ ran: false, reason: 'too-early' });

    const later = new Date(`${days.date()}T02:00:00Z`);
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => runDailyReconciliation(jobDeps, { now: () => later, instanceId: `instance-${i}` })),
    );
    expect(results.filter((r) => r.ran)).toHaveLength(1);
    expect(results.find((r) => r.ran)).toMatchObject({ outcome: 'not-ready' });

    const yesterday = beijingDate(new Date(later.getTime() - DAY));
    const job = await h.db.reconciliationJob.findUniqueOrThrow({ where: { billDate_billType: { billDate: yesterday, billType: 'trade' } } });
    expect(job).toMatchObject({ attempts: 1, doneAt: null, claimedUntil: null, lastError: 'no bill yet' });
    expect(job.nextAttemptAt.getTime()).toBe(later.getTime() + 30 * 60_000);

    expect(await runDailyReconciliation(jobDeps, { now: () => new Date(later.getTime() + 60_000) })).toMatchObject({ ran: false });
    const ready = { ...jobDeps, bills: { tradeBill: async () => ({ kind: 'bill' as const, entries: [] }) } };
    const retried = new Date(later.getTime() + 31 * 60_000);
    expect(await runDailyReconciliation(ready, { now: () => retried })).toMatchObject({ ran: true, outcome: 'done', status: 'MATCHED' });
    expect(await runDailyReconciliation(ready, { now: () => new Date(retried.getTime() + DAY / 4) })).toMatchObject({ ran: false, reason: 'claimed-or-done' });
  });
});
