import { queryRows, type Db } from '../../db/client.js';
import { Prisma, type OrderStatus } from '../../generated/prisma/client.js';
import { NO_EVENTS, type ShopEvents, type Tx } from '../events.js';
import { RAW_LIMIT, recordEvent, storableText } from './audit.js';
import type { Merchant, PaymentProvider, PaymentReport } from './port.js';

export interface PaymentDeps {
  db: Db;
  provider: PaymentProvider;
  events?: ShopEvents;
  /** Asked before each provider query made for a shopper (the order page's fallback): false = not now. */
  queryBudget?: () => Promise<boolean>;
}

export type PaymentOutcome =
  | { outcome: 'applied'; status: OrderStatus; attention?: string }
  | { outcome: 'duplicate'; status: OrderStatus }
  | { outcome: 'acknowledged'; status: OrderStatus }
  | { outcome: 'rejected'; reason: string };

/** Keeps a notification that could not be verified, so nothing that reached us is lost. */
export async function recordRejectedNotification(db: Db, raw: string, reason: string, hints: { outTradeNo?: string; notifyId?: string; tradeStatus?: string } = {}) {
  await recordEvent(db, { source: 'NOTIFY', raw, ...hints, outTradeNo: hints.outTradeNo ?? '' }, false, 'rejected', reason);
}

function merchantProblem(report: PaymentReport, merchant: Merchant): string | undefined {
  if (report.appId !== undefined && report.appId !== merchant.appId) return `app_id ${report.appId} is not ours`;
  if (merchant.sellerId && report.sellerId !== undefined && report.sellerId !== merchant.sellerId) {
    return `seller_id ${report.sellerId} is not ours`;
  }
  if (merchant.sellerId && report.source === 'NOTIFY' && report.sellerId === undefined) return 'seller_id is missing';
  return undefined;
}

function checkReport(order: { totalFen: number } | null, report: PaymentReport, merchant: Merchant): string | undefined {
  // Alipay's four checks before acting on a notification.
  if (!order) return `unknown out_trade_no ${report.outTradeNo}`;
  if (report.amountFen !== order.totalFen) return `amount ${report.amountFen} fen does not match the order total ${order.totalFen} fen`;
  return merchantProblem(report, merchant);
}

/**
 * A conditional update of one order (the `where` is the precondition that makes it happen once),
 * then the order's status as it now stands: 'applied' if this call changed it, else 'duplicate'.
 */
async function transition(tx: Tx, orderId: number, where: Prisma.OrderWhereInput, data: Prisma.OrderUpdateManyMutationInput) {
  const { count } = await tx.order.updateMany({ where: { ...where, id: orderId }, data });
  const { status } = await tx.order.findUniqueOrThrow({ where: { id: orderId }, select: { status: true } });
  return { outcome: count === 1 ? ('applied' as const) : ('duplicate' as const), status };
}

async function markPaid(tx: Tx, orderId: number, report: PaymentReport): Promise<PaymentOutcome> {
  const paid = { tradeNo: report.tradeNo ?? null, buyerLogonId: report.buyerLogonId ?? null, paidAt: report.paidAt ?? new Date() };
  // The one transition that must happen once: only an UNPAID order becomes PAID here.
  const { count } = await tx.order.updateMany({ where: { id: orderId, status: 'UNPAID' }, data: { status: 'PAID', ...paid } });
  if (count === 1) return { outcome: 'applied', status: 'PAID' };

  const current = await tx.order.findUniqueOrThrow({ where: { id: orderId } });
  if (current.status === 'PAID' || current.status === 'REFUNDED') {
    if (!report.tradeNo || current.tradeNo === report.tradeNo) return { outcome: 'duplicate', status: current.status };
    const attention = `A second Alipay trade ${report.tradeNo} paid this order (already paid by ${current.tradeNo}): refund one of them.`;
    await tx.order.update({ where: { id: orderId }, data: { attention } });
    return { outcome: 'applied', status: current.status, attention };
  }
  // EXPIRED or CLOSED here, but Alipay took the money: never drop it — mark paid and flag it.
  const attention = `Paid at Alipay after the order was ${current.status.toLowerCase()} here: check stock, then fulfil or refund.`;
  const flagged = await transition(tx, orderId, { status: { in: ['EXPIRED', 'CLOSED'] } }, { status: 'PAID', ...paid, attention });
  return flagged.outcome === 'applied' ? { outcome: 'applied', status: 'PAID', attention } : flagged;
}

function applyRefund(tx: Tx, orderId: number, totalFen: number, refund: NonNullable<PaymentReport['refund']>) {
  const refundedFen = Math.min(refund.refundedFen, totalFen);
  const full = refundedFen >= totalFen;
  // refund_fee is cumulative, so a repeated notification changes nothing.
  return transition(
    tx,
    orderId,
    { status: { in: ['PAID', 'REFUNDED'] }, refundedFen: { lt: refundedFen } },
    { refundedFen, refundedAt: refund.at, ...(full ? { status: 'REFUNDED' } : {}) },
  );
}

const PAY_IN_ONE_STATEMENT_SQL = `
WITH paid AS (
  UPDATE orders
  SET status = 'PAID', trade_no = $1::text, buyer_logon_id = $2::text, paid_at = $3::timestamptz, updated_at = now()
  WHERE out_trade_no = $4::text AND status = 'UNPAID' AND total_fen = $5::bigint AND (NOT $10::boolean OR shopper_id IS NULL)
  RETURNING id
)
INSERT INTO payment_events (source, order_id, out_trade_no, notify_id, trade_status, verified, outcome, raw_body)
SELECT $6::"PaymentEventSource", id, $4::text, $7::text, $8::text, true, 'applied', $9::text
FROM paid
RETURNING order_id AS id`;

/**
 * The common case — first news that an UNPAID order with the right amount was paid — as one
 * atomic statement (one round trip, prepared once per connection): the conditional update and the
 * audit event together. Anything else (duplicates, mismatches, late payments, refunds) takes the
 * general path, and so does every payment that something subscribed to orderPaid must see (it
 * writes in the same commit): all of them, or with `guestsOnly` those of shoppers' orders.
 */
async function payInOneStatement(db: Db, report: PaymentReport, merchant: Merchant, opts: { guestsOnly: boolean }): Promise<boolean> {
  if (report.state !== 'paid' || report.refund || !report.tradeNo) return false;
  if (merchantProblem(report, merchant)) return false;
  try {
    const rows = await queryRows<{ id: number }>(
      db,
      PAY_IN_ONE_STATEMENT_SQL,
      [
        report.tradeNo,
        report.buyerLogonId ?? null,
        report.paidAt ?? new Date(),
        report.outTradeNo,
        report.amountFen,
        report.source,
        report.notifyId ? storableText(report.notifyId, 128) : null,
        report.tradeStatus ? storableText(report.tradeStatus, 32) : null,
        storableText(report.raw, RAW_LIMIT),
        opts.guestsOnly,
      ],
      'pay_in_one_statement',
    );
    return rows.length === 1;
  } catch (err) {
    // e.g. the trade_no belongs to another order (23505): the general path records what is wrong.
    if (err instanceof Prisma.PrismaClientKnownRequestError || (err as { code?: unknown }).code === '23505') return false;
    throw err;
  }
}

/**
 * Applies a verified report from the provider (notification, query answer) to the order, exactly
 * once however often and however concurrently it arrives, and keeps the event for audit in the
 * same transaction. Returns only after the commit.
 */
export async function confirmPayment(deps: PaymentDeps, report: PaymentReport): Promise<PaymentOutcome> {
  const { db } = deps;
  const merchant = deps.provider.merchant;
  const events = deps.events ?? NO_EVENTS;
  const fastPath = !events.orderPaid || events.orderPaidIgnoresGuests === true;
  if (fastPath && (await payInOneStatement(db, report, merchant, { guestsOnly: events.orderPaid !== undefined }))) return { outcome: 'applied', status: 'PAID' };
  try {
    return await db.$transaction(async (tx) => {
      const order = await tx.order.findUnique({ where: { outTradeNo: report.outTradeNo }, select: { id: true, totalFen: true, status: true, tradeNo: true } });
      const problem = checkReport(order, report, merchant);
      if (problem || !order) {
        await recordEvent(tx, report, true, 'rejected', problem);
        return { outcome: 'rejected', reason: problem ?? 'unknown order' } as const;
      }
      const event = { orderId: order.id, outTradeNo: report.outTradeNo };
      let result: PaymentOutcome;
      let note: string | undefined;
      if (report.refund && report.tradeNo && order.tradeNo && report.tradeNo !== order.tradeNo) {
        // A refund of another trade for this order (a duplicate payment given back): the order's own payment stands.
        result = { outcome: 'acknowledged', status: order.status };
        note = `refund of trade ${report.tradeNo}, not of this order's payment ${order.tradeNo}: order unchanged`;
      } else if (report.state === 'paid' || report.refund) {
        const wasPaid = order.status === 'PAID' || order.status === 'REFUNDED';
        result = await markPaid(tx, order.id, report);
        if (result.outcome === 'applied' && !wasPaid) await events.orderPaid?.(tx, event);
        if (report.refund) {
          const refunded = await applyRefund(tx, order.id, order.totalFen, report.refund);
          if (refunded.outcome === 'applied') {
            await events.orderRefunded?.(tx, { ...event, refundedFen: Math.min(report.refund.refundedFen, order.totalFen), totalFen: order.totalFen });
          }
          result = result.outcome === 'applied' ? { ...result, status: refunded.status } : refunded;
        }
      } else if (report.state === 'closed') {
        result = await transition(tx, order.id, { status: 'UNPAID' }, { status: 'CLOSED', closedAt: report.closedAt ?? new Date() });
      } else {
        result = { outcome: 'acknowledged', status: order.status };
      }
      if (report.source === 'NOTIFY' || result.outcome === 'applied' || note) {
        await recordEvent(tx, { ...report, orderId: order.id }, true, result.outcome, result.outcome === 'applied' ? result.attention : note);
      }
      return result;
    });
  } catch (err) {
    // Another order already holds this trade_no: kept for an operator; Alipay's retries are each recorded.
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      const reason = `trade_no ${report.tradeNo} already belongs to another order`;
      await recordEvent(db, report, true, 'rejected', reason);
      return { outcome: 'rejected', reason };
    }
    throw err;
  }
}
