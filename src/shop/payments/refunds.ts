import { randomBytes } from 'node:crypto';
import type { Refund } from '../../generated/prisma/client.js';
import { formatPrice } from '../../lib/money.js';
import { errorText } from '../../lib/error-text.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../errors.js';
import { NO_EVENTS, type Tx } from '../events.js';
import { recordAction, SYSTEM_ACTOR, type Actor } from '../operator-actions.js';
import type { PaymentDeps } from './confirm.js';
import type { RefundAnswer } from './port.js';

export const MAX_REFUND_REASON = 256;
const FORM_TOKEN = /^[A-Za-z0-9_-]{16,64}$/;

export interface RefundResult {
  refund: Refund;
  /** True when this form had already been submitted: nothing new was asked of the provider. */
  repeated: boolean;
}

/** A one-time token for one refund form: the same form posted twice refunds once. */
export function newRefundFormToken(): string {
  return randomBytes(18).toString('base64url');
}

function newOutRequestNo(): string {
  return `RF${randomBytes(12).toString('hex')}`;
}

interface LockedOrder {
  id: number;
  out_trade_no: string;
  total_fen: number;
  status: string;
  trade_no: string | null;
  refunded_fen: number;
}

async function lockOrder(tx: Tx, where: { outTradeNo?: string; id?: number }): Promise<LockedOrder | undefined> {
  // The row lock serialises every refund decision on one order (operator refunds, notifications).
  const rows = where.id !== undefined
    ? await tx.$queryRaw<LockedOrder[]>`SELECT id, out_trade_no, total_fen, status::text, trade_no, refunded_fen FROM orders WHERE id = ${where.id} FOR UPDATE`
    : await tx.$queryRaw<LockedOrder[]>`SELECT id, out_trade_no, total_fen, status::text, trade_no, refunded_fen FROM orders WHERE out_trade_no = ${where.outTradeNo} FOR UPDATE`;
  return rows[0];
}

async function refundSums(tx: Tx, orderId: number) {
  const rows = await tx.refund.groupBy({ by: ['status'], where: { orderId }, _sum: { amountFen: true } });
  const sum = (status: string) => rows.find((r) => r.status === status)?._sum.amountFen ?? 0;
  return { succeeded: sum('SUCCEEDED'), pending: sum('PENDING') };
}

/**
 * What can still be refunded: the total less what Alipay reported refunded (notifications, also
 * refunds made outside the console), what the console's refunds settled, and what is in flight.
 * Every figure is cumulative, so a refund counted both by its notification and by its
 * answer is counted once.
 */
export function refundableFen(order: { totalFen: number; refundedFen: number }, sums: { succeeded: number; pending: number }): number {
  return Math.max(0, order.totalFen - Math.max(order.refundedFen, sums.succeeded) - sums.pending);
}

/** What is left to refund on an order now (for the form). */
export async function refundableAmount(deps: Pick<PaymentDeps, 'db'>, orderId: number): Promise<number> {
  return deps.db.$transaction(async (tx) => {
    const order = await tx.order.findUniqueOrThrow({ where: { id: orderId }, select: { totalFen: true, refundedFen: true } });
    return refundableFen(order, await refundSums(tx, orderId));
  });
}

/**
 * Refunds part or all of a PAID order through the provider, against the order's trade_no. The
 * request is a row with its own out_request_no before anything is sent; an ambiguous answer is
 * settled by asking about that request (never by refunding again); the form token makes a
 * double submit one refund.
 */
export async function refundOrder(
  deps: PaymentDeps,
  req: { outTradeNo: string; amountFen: number; reason: string; formToken: string; actor: Actor },
): Promise<RefundResult> {
  const reason = req.reason.trim();
  if (!FORM_TOKEN.test(req.formToken)) throw new InvalidRequestError('This refund form is not valid any more: reload the order page and try again.');
  if (!Number.isSafeInteger(req.amountFen) || req.amountFen <= 0) throw new InvalidRequestError('Enter an amount to refund, more than ¥0.00.');
  if (reason.length > MAX_REFUND_REASON) throw new InvalidRequestError(`The reason is too long (at most ${MAX_REFUND_REASON} characters).`);

  const started = await deps.db.$transaction(async (tx) => {
    const order = await lockOrder(tx, { outTradeNo: req.outTradeNo });
    if (!order) throw new NotFoundError(`There is no order ${req.outTradeNo}.`);
    // Looked up under the lock, so a concurrent copy of the same form sees the first one's row.
    const previous = await tx.refund.findUnique({ where: { formToken: req.formToken } });
    if (previous) {
      if (previous.orderId !== order.id) throw new InvalidRequestError('This refund form belongs to another order.');
      return { refund: previous, repeated: true };
    }
    if (order.status === 'REFUNDED') throw new ConflictError('This order has already been refunded in full.');
    if (order.status !== 'PAID' || !order.trade_no) {
      throw new ConflictError(`Only a paid order can be refunded; this one is ${order.status}.`);
    }
    const left = refundableFen({ totalFen: order.total_fen, refundedFen: order.refunded_fen }, await refundSums(tx, order.id));
    if (req.amountFen > left) {
      throw new InvalidRequestError(
        left === 0
          ? 'Nothing is left to refund on this order (refunds still being processed count as refunded).'
          : `${formatPrice(req.amountFen)} is more than what is left to refund (${formatPrice(left)}).`,
      );
    }
    const refund = await tx.refund.create({
      data: {
        orderId: order.id,
        outRequestNo: newOutRequestNo(),
        formToken: req.formToken,
        tradeNo: order.trade_no,
        amountFen: req.amountFen,
        reason,
        operatorId: req.actor.id,
      },
    });
    await recordAction(tx, req.actor, {
      orderId: order.id,
      action: 'refund',
      outcome: 'requested',
      detail: `${formatPrice(refund.amountFen)} as ${refund.outRequestNo}${reason ? `: ${reason}` : ''}`,
    });
    return { refund, repeated: false };
  });
  if (started.repeated) return started;

  const { refund } = started;
  let answer: RefundAnswer;
  try {
    answer = await deps.provider.refund({ outTradeNo: req.outTradeNo, outRequestNo: refund.outRequestNo, amountFen: refund.amountFen, reason: reason || undefined });
  } catch (err) {
    // Timeout, 5xx, unreadable answer: the money may or may not have moved. Ask, never send again.
    return { refund: await checkRefund(deps, refund.outRequestNo, req.actor, { resend: false, cause: errorText(err) }), repeated: false };
  }
  return { refund: await applyRefundAnswer(deps, refund, answer, req.actor), repeated: false };
}

async function applyRefundAnswer(deps: PaymentDeps, refund: Refund, answer: RefundAnswer, actor: Actor): Promise<Refund> {
  if (answer.outcome === 'refunded' && answer.moved) return settleRefund(deps, refund, { status: 'SUCCEEDED', refundedFen: answer.refundedFen }, actor);
  if (answer.outcome === 'refused' && !answer.retry) return settleRefund(deps, refund, { status: 'FAILED', error: answer.reason }, actor);
  // fund_change=N or "system error, try again": only a refund query says what happened.
  const cause = answer.outcome === 'refused' ? answer.reason : 'no money moved by this call';
  return checkRefund(deps, refund.outRequestNo, actor, { resend: false, cause });
}

/**
 * Settles a PENDING refund by asking the provider about its out_request_no. With `resend`, a
 * refund the provider has no record of is sent again with the same out_request_no (Alipay's way
 * to retry: it cannot refund twice under one number).
 */
export async function checkRefund(deps: PaymentDeps, outRequestNo: string, actor: Actor, opts: { resend: boolean; cause?: string }): Promise<Refund> {
  const refund = await deps.db.refund.findUnique({ where: { outRequestNo }, include: { order: { select: { outTradeNo: true } } } });
  if (!refund) throw new NotFoundError(`There is no refund ${outRequestNo}.`);
  const { order, ...row } = refund;
  if (row.status !== 'PENDING') return row;
  let answer;
  try {
    answer = await deps.provider.queryRefund({ outTradeNo: order.outTradeNo, outRequestNo });
  } catch (err) {
    return notePending(deps, row, actor, `could not ask Alipay (${errorText(err)})${opts.cause ? ` after: ${opts.cause}` : ''}`);
  }
  if (answer.outcome === 'done') return settleRefund(deps, row, { status: 'SUCCEEDED' }, actor);
  if (answer.outcome === 'pending') return notePending(deps, row, actor, `Alipay says ${answer.detail}`);
  if (!opts.resend) return notePending(deps, row, actor, `Alipay has no record of it yet${opts.cause ? ` (after: ${opts.cause})` : ''}`);
  let again: RefundAnswer;
  try {
    again = await deps.provider.refund({ outTradeNo: order.outTradeNo, outRequestNo, amountFen: row.amountFen, reason: row.reason || undefined });
  } catch (err) {
    return notePending(deps, row, actor, `sent again, no clear answer (${errorText(err)})`);
  }
  if (again.outcome === 'refunded') return settleRefund(deps, row, { status: 'SUCCEEDED', refundedFen: again.refundedFen }, actor);
  if (!again.retry) return settleRefund(deps, row, { status: 'FAILED', error: again.reason }, actor);
  return notePending(deps, row, actor, `sent again: ${again.reason}`);
}

async function notePending(deps: PaymentDeps, refund: Refund, actor: Actor, why: string): Promise<Refund> {
  const error = why.slice(0, 500);
  if (refund.error === error) return refund;
  return deps.db.$transaction(async (tx) => {
    const updated = await tx.refund.update({ where: { id: refund.id }, data: { error } });
    await recordAction(tx, actor, { orderId: refund.orderId, action: 'refund-check', outcome: 'pending', detail: `${refund.outRequestNo}: ${why}` });
    return updated;
  });
}

/**
 * The refund's final state, once. A success raises the order's refunded amount to the larger of
 * what it was (e.g. from Alipay's notification of this very refund), the sum of settled refunds
 * and the provider's cumulative figure — cumulative values, so nothing is counted twice.
 */
async function settleRefund(
  deps: PaymentDeps,
  refund: Refund,
  outcome: { status: 'SUCCEEDED'; refundedFen?: number } | { status: 'FAILED'; error: string },
  actor: Actor,
): Promise<Refund> {
  const events = deps.events ?? NO_EVENTS;
  return deps.db.$transaction(async (tx) => {
    const order = await lockOrder(tx, { id: refund.orderId });
    if (!order) throw new NotFoundError('The order of this refund is gone.');
    const now = new Date();
    const { count } = await tx.refund.updateMany({
      where: { id: refund.id, status: 'PENDING' },
      data: outcome.status === 'SUCCEEDED' ? { status: 'SUCCEEDED', settledAt: now, error: null } : { status: 'FAILED', settledAt: now, error: outcome.error.slice(0, 500) },
    });
    const settled = await tx.refund.findUniqueOrThrow({ where: { id: refund.id } });
    if (count === 0) return settled;
    if (outcome.status === 'FAILED') {
      await recordAction(tx, actor, { orderId: order.id, action: 'refund', outcome: 'refused', detail: `${refund.outRequestNo}: ${outcome.error}` });
      return settled;
    }
    const { succeeded } = await refundSums(tx, order.id);
    const refundedFen = Math.min(order.total_fen, Math.max(order.refunded_fen, succeeded, outcome.refundedFen ?? 0));
    const full = refundedFen >= order.total_fen;
    const raised = await tx.order.updateMany({
      where: { id: order.id, status: { in: ['PAID', 'REFUNDED'] }, refundedFen: { lt: refundedFen } },
      data: { refundedFen, refundedAt: now, ...(full ? { status: 'REFUNDED' } : {}) },
    });
    await recordAction(tx, actor, {
      orderId: order.id,
      action: 'refund',
      outcome: 'refunded',
      detail: `${formatPrice(refund.amountFen)} (${refund.outRequestNo}); refunded in all ${formatPrice(refundedFen)}${full ? ', order REFUNDED' : ''}`,
    });
    if (raised.count === 1) {
      await events.orderRefunded?.(tx, { orderId: order.id, outTradeNo: order.out_trade_no, refundedFen, totalFen: order.total_fen });
    }
    return settled;
  });
}

/** Settles refunds whose answer was ambiguous (run periodically; asks only, never sends again). */
export async function settlePendingRefunds(deps: PaymentDeps, opts: { olderThanMs?: number; limit?: number; now?: Date } = {}) {
  const now = opts.now ?? new Date();
  const pending = await deps.db.refund.findMany({
    where: { status: 'PENDING', createdAt: { lt: new Date(now.getTime() - (opts.olderThanMs ?? 60_000)) } },
    select: { outRequestNo: true },
    orderBy: { createdAt: 'asc' },
    take: opts.limit ?? 50,
  });
  const result = { checked: 0, settled: 0 };
  for (const { outRequestNo } of pending) {
    result.checked++;
    const refund = await checkRefund(deps, outRequestNo, SYSTEM_ACTOR, { resend: false });
    if (refund.status !== 'PENDING') result.settled++;
  }
  return result;
}
