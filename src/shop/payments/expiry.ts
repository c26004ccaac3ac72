import { confirmPayment, type PaymentDeps } from './confirm.js';
import { claimQuery } from './status.js';

export type ExpiryResult = 'expired' | 'paid' | 'kept';

/**
 * Expires one UNPAID order past its deadline — but only after asking the provider: a paid trade
 * is confirmed instead, and when the provider cannot be asked the order is kept for the next try.
 */
export async function expireOrder(deps: PaymentDeps, outTradeNo: string, now = new Date()): Promise<ExpiryResult> {
  const report = await deps.provider.lookup(outTradeNo);
  if (report?.state === 'paid' || report?.refund) {
    const result = await confirmPayment(deps, report);
    return result.outcome === 'rejected' ? 'kept' : 'paid';
  }
  if (report?.state === 'waiting' && (await deps.provider.close(outTradeNo)) === 'busy') return 'kept';
  const { count } = await deps.db.order.updateMany({
    where: { outTradeNo, status: 'UNPAID', expiresAt: { lte: now } },
    data: { status: 'EXPIRED', closedAt: now },
  });
  return count === 1 ? 'expired' : 'kept';
}

/** Expiry when an order is read: rate-limited like refreshPaymentStatus, so a page view never waits on the provider twice in 10 s. */
export async function expireOrderOnRead(deps: PaymentDeps, outTradeNo: string, now = new Date()) {
  if (!(await claimQuery(deps.db, outTradeNo, now))) return 'kept' as const;
  return expireOrder(deps, outTradeNo, now);
}

export interface SweepResult {
  expired: number;
  paid: number;
  kept: number;
  failed: number;
}

/** One pass of the periodic expiry sweep. Provider failures leave the order for the next pass. */
export async function sweepExpiredOrders(
  deps: PaymentDeps,
  opts: { now?: Date; limit?: number; onError?: (outTradeNo: string, err: unknown) => void } = {},
): Promise<SweepResult> {
  const { db } = deps;
  const now = opts.now ?? new Date();
  // Least recently asked first, so orders that keep failing cannot hold up the others.
  const due = await db.order.findMany({
    where: { status: 'UNPAID', expiresAt: { lte: now } },
    select: { outTradeNo: true },
    orderBy: [{ queriedAt: { sort: 'asc', nulls: 'first' } }, { expiresAt: 'asc' }],
    take: opts.limit ?? 100,
  });
  const result: SweepResult = { expired: 0, paid: 0, kept: 0, failed: 0 };
  for (const { outTradeNo } of due) {
    await db.order.updateMany({ where: { outTradeNo, status: 'UNPAID' }, data: { queriedAt: now } });
    try {
      result[await expireOrder(deps, outTradeNo, now)]++;
    } catch (err) {
      result.failed++;
      opts.onError?.(outTradeNo, err);
    }
  }
  return result;
}
