import type { Db } from '../db/client.js';
import { confirmPayment, type Merchant, type PaymentReport } from './payments.js';

/** The payment provider as the shop needs it for active checks (implemented over Alipay's OpenAPI). */
export interface PaymentProvider {
  /** What the provider knows about the trade; null when it never saw it (the buyer never reached the cashier). */
  lookup(outTradeNo: string): Promise<PaymentReport | null>;
  /** Makes the trade unpayable. 'busy' when it was paid or closed meanwhile (look it up again). */
  close(outTradeNo: string): Promise<'closed' | 'not-found' | 'busy'>;
}

export const QUERY_INTERVAL_MS = 10_000;

/** Takes this order's query slot if the last query is 10 s old (one winner across all instances). */
async function claimQuery(db: Db, outTradeNo: string, now: Date): Promise<boolean> {
  const claimed = await db.order.updateMany({
    where: {
      outTradeNo,
      status: 'UNPAID',
      OR: [{ queriedAt: null }, { queriedAt: { lt: new Date(now.getTime() - QUERY_INTERVAL_MS) } }],
    },
    data: { queriedAt: now },
  });
  return claimed.count === 1;
}

/**
 * Asks the provider about an UNPAID order (at most once per order per 10 s, across all app
 * instances) and applies a paid or closed answer through the same path as notifications.
 * Returns false when it was not the time to ask.
 */
export async function refreshPaymentStatus(db: Db, provider: PaymentProvider, merchant: Merchant, outTradeNo: string, now = new Date()) {
  if (!(await claimQuery(db, outTradeNo, now))) return false;
  const report = await provider.lookup(outTradeNo);
  if (report && report.state !== 'waiting') await confirmPayment(db, report, merchant);
  return true;
}

export type ExpiryResult = 'expired' | 'paid' | 'kept';

/**
 * Expires one UNPAID order past its deadline — but only after asking the provider: a paid trade
 * is confirmed instead, and when the provider cannot be asked the order is kept for the next try.
 */
export async function expireOrder(db: Db, provider: PaymentProvider, merchant: Merchant, outTradeNo: string, now = new Date()): Promise<ExpiryResult> {
  const report = await provider.lookup(outTradeNo);
  if (report?.state === 'paid' || report?.refund) {
    const result = await confirmPayment(db, report, merchant);
    return result.outcome === 'rejected' ? 'kept' : 'paid';
  }
  if (report?.state === 'waiting' && (await provider.close(outTradeNo)) === 'busy') return 'kept';
  const { count } = await db.order.updateMany({
    where: { outTradeNo, status: 'UNPAID', expiresAt: { lte: now } },
    data: { status: 'EXPIRED', closedAt: now },
  });
  return count === 1 ? 'expired' : 'kept';
}

export interface SweepResult {
  expired: number;
  paid: number;
  kept: number;
  failed: number;
}

/** Expiry when an order is read: rate-limited like refreshPaymentStatus, so a page view never waits on Alipay twice in 10 s. */
export async function expireOrderOnRead(db: Db, provider: PaymentProvider, merchant: Merchant, outTradeNo: string, now = new Date()) {
  if (!(await claimQuery(db, outTradeNo, now))) return 'kept' as const;
  return expireOrder(db, provider, merchant, outTradeNo, now);
}

/** One pass of the periodic expiry sweep. Provider failures leave the order for the next pass. */
export async function sweepExpiredOrders(
  db: Db,
  provider: PaymentProvider,
  merchant: Merchant,
  opts: { now?: Date; limit?: number; onError?: (outTradeNo: string, err: unknown) => void } = {},
): Promise<SweepResult> {
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
      result[await expireOrder(db, provider, merchant, outTradeNo, now)]++;
    } catch (err) {
      result.failed++;
      opts.onError?.(outTradeNo, err);
    }
  }
  return result;
}
