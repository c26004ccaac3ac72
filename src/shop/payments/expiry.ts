import { confirmPayment, type PaymentDeps } from './confirm.js';
import { claimQuery, QUERY_INTERVAL_MS } from './status.js';

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
  if (deps.queryBudget && !(await deps.queryBudget())) return 'kept' as const;
  return expireOrder(deps, outTradeNo, now);
}

export interface SweepResult {
  expired: number;
  paid: number;
  kept: number;
  failed: number;
  /** Due orders left for the next pass because this minute's budget of provider calls is spent. */
  deferred?: boolean;
}

/**
 * Claims up to `n` due orders for this instance: never asked or not asked for 10 s (so no two
 * instances ask about the same order), never-asked first, then the longest overdue. SKIP LOCKED:
 * a concurrent sweep takes the next ones instead of waiting.
 */
async function claimDueOrders(db: PaymentDeps['db'], n: number, now: Date): Promise<string[]> {
  const askedBefore = new Date(now.getTime() - QUERY_INTERVAL_MS);
  const rows = await db.$queryRaw<{ out_trade_no: string }[]>`
    UPDATE orders SET queried_at = ${now}
    WHERE id IN (
      SELECT id FROM orders
      WHERE status = 'UNPAID' AND expires_at <= ${now} AND (queried_at IS NULL OR queried_at < ${askedBefore})
      ORDER BY queried_at ASC NULLS FIRST, expires_at ASC
      LIMIT ${n}
      FOR UPDATE SKIP LOCKED
    )
    RETURNING out_trade_no`;
  return rows.map((r) => r.out_trade_no);
}

export interface SweepOptions {
  now?: Date;
  /** Most orders asked about in one pass (default 1000). */
  limit?: number;
  /** Orders claimed and asked about at once (default 10). */
  batchSize?: number;
  /** Takes up to `n` provider calls from the shared per-minute budget; returns how many it got. */
  takeBudget?: (n: number) => Promise<number>;
  onError?: (outTradeNo: string, err: unknown) => void;
}

/**
 * One pass of the periodic expiry sweep: batches of due orders claimed atomically, each asked
 * about at the provider within the per-minute budget. Provider failures leave the order for a
 * later pass.
 */
export async function sweepExpiredOrders(deps: PaymentDeps, opts: SweepOptions = {}): Promise<SweepResult> {
  const now = opts.now ?? new Date();
  const result: SweepResult = { expired: 0, paid: 0, kept: 0, failed: 0 };
  let left = opts.limit ?? 1000;
  while (left > 0) {
    const wanted = Math.min(left, opts.batchSize ?? 10);
    const granted = opts.takeBudget ? await opts.takeBudget(wanted) : wanted;
    if (granted === 0) {
      result.deferred = true;
      break;
    }
    const claimed = await claimDueOrders(deps.db, granted, now);
    await Promise.all(
      claimed.map(async (outTradeNo) => {
        try {
          result[await expireOrder(deps, outTradeNo, now)]++;
        } catch (err) {
          result.failed++;
          opts.onError?.(outTradeNo, err);
        }
      }),
    );
    left -= claimed.length;
    if (claimed.length < granted) break;
  }
  return result;
}
