import type { Db } from '../db/client.js';
import { ConflictError, InvalidRequestError, NotFoundError } from './errors.js';
import { recordAction, type Actor } from './operator-actions.js';
import { confirmPayment, type PaymentDeps } from './payments/confirm.js';

// What an operator can do to one order besides refunding it (src/shop/payments/refunds.ts).
// Each is safe to repeat: doing it again when it is already done changes nothing.

export const MAX_NOTE = 2000;

async function orderOf(db: Db, outTradeNo: string) {
  const order = await db.order.findUnique({ where: { outTradeNo }, select: { id: true, status: true, attention: true } });
  if (!order) throw new NotFoundError(`There is no order ${outTradeNo}.`);
  return order;
}

function noteText(note: string, what: string): string {
  const text = note.trim();
  if (!text) throw new InvalidRequestError(`Write a note ${what}.`);
  if (text.length > MAX_NOTE) throw new InvalidRequestError(`The note is too long (at most ${MAX_NOTE} characters).`);
  return text;
}

/** Asks Alipay (alipay.trade.query) and applies the answer through the same path as a notification. */
export async function queryOrderPayment(deps: PaymentDeps, outTradeNo: string, actor: Actor) {
  const order = await orderOf(deps.db, outTradeNo);
  const report = await deps.provider.lookup(outTradeNo);
  if (!report) {
    await recordAction(deps.db, actor, { orderId: order.id, action: 'query', outcome: 'not-found', detail: 'Alipay has no trade for this order (the buyer never reached the cashier).' });
    return { outcome: 'not-found' as const };
  }
  const result = await confirmPayment(deps, report);
  const detail = `trade_status ${report.tradeStatus ?? '?'}${report.tradeNo ? `, trade_no ${report.tradeNo}` : ''}${result.outcome === 'rejected' ? `: ${result.reason}` : ''}`;
  await recordAction(deps.db, actor, { orderId: order.id, action: 'query', outcome: result.outcome, detail });
  return { outcome: result.outcome };
}

/**
 * Closes an UNPAID order at Alipay (alipay.trade.close), then here. When Alipay says the trade
 * was paid meanwhile, the payment is confirmed instead, as the expiry sweep does.
 */
export async function closeOrder(deps: PaymentDeps, outTradeNo: string, actor: Actor) {
  const order = await orderOf(deps.db, outTradeNo);
  if (order.status === 'CLOSED' || order.status === 'EXPIRED') return { status: order.status };
  if (order.status !== 'UNPAID') throw new ConflictError(`Only an unpaid order can be closed; this one is ${order.status}.`);
  const closed = await deps.provider.close(outTradeNo);
  if (closed === 'busy') {
    const report = await deps.provider.lookup(outTradeNo);
    const result = report && report.state !== 'waiting' ? await confirmPayment(deps, report) : undefined;
    const now = await deps.db.order.findUniqueOrThrow({ where: { id: order.id }, select: { status: true } });
    await recordAction(deps.db, actor, {
      orderId: order.id,
      action: 'close',
      outcome: now.status === 'PAID' ? 'paid-instead' : 'busy',
      detail: `Alipay would not close the trade (${report?.tradeStatus ?? 'status changed'}); order is ${now.status}${result?.outcome === 'rejected' ? `: ${result.reason}` : ''}`,
    });
    return { status: now.status };
  }
  return deps.db.$transaction(async (tx) => {
    const { count } = await tx.order.updateMany({ where: { id: order.id, status: 'UNPAID' }, data: { status: 'CLOSED', closedAt: new Date() } });
    const now = await tx.order.findUniqueOrThrow({ where: { id: order.id }, select: { status: true } });
    await recordAction(tx, actor, {
      orderId: order.id,
      action: 'close',
      outcome: count === 1 ? 'closed' : 'unchanged',
      detail: closed === 'not-found' ? 'Alipay had no trade for it (never reached the cashier)' : 'closed at Alipay',
    });
    return { status: now.status };
  });
}

/** Clears the attention flag, keeping what it said and the operator's note in the log. */
export async function resolveAttention(db: Db, outTradeNo: string, note: string, actor: Actor) {
  const text = noteText(note, 'saying how it was resolved');
  const order = await orderOf(db, outTradeNo);
  return db.$transaction(async (tx) => {
    const { count } = await tx.order.updateMany({ where: { id: order.id, attention: { not: null } }, data: { attention: null } });
    if (count === 0) return { resolved: false };
    await recordAction(tx, actor, { orderId: order.id, action: 'resolve', outcome: 'resolved', detail: `${text}\n(flag was: ${order.attention ?? ''})` });
    return { resolved: true };
  });
}

export async function addOrderNote(db: Db, outTradeNo: string, note: string, actor: Actor) {
  const text = noteText(note, '');
  const order = await orderOf(db, outTradeNo);
  await recordAction(db, actor, { orderId: order.id, action: 'note', outcome: 'added', detail: text });
}
