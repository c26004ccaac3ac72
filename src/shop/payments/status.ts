import type { Db } from '../../db/client.js';
import { confirmPayment, type PaymentDeps } from './confirm.js';

export const QUERY_INTERVAL_MS = 10_000;

/** Takes this order's query slot if the last query is 10 s old (one winner across all instances). */
export async function claimQuery(db: Db, outTradeNo: string, now: Date): Promise<boolean> {
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
export async function refreshPaymentStatus(deps: PaymentDeps, outTradeNo: string, now = new Date()) {
  if (!(await claimQuery(deps.db, outTradeNo, now))) return false;
  if (deps.queryBudget && !(await deps.queryBudget())) return false;
  const report = await deps.provider.lookup(outTradeNo);
  if (report && report.state !== 'waiting') await confirmPayment(deps, report);
  return true;
}
