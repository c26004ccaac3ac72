import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { PaymentDeps } from '../shop/payments/confirm.js';
import { sweepExpiredOrders } from '../shop/payments/expiry.js';
import type { BillSource } from '../shop/payments/reconciliation.js';
import { runDailyReconciliation } from '../shop/payments/reconciliation-job.js';
import { purgeExpiredSessions } from '../db/session-store.js';
import type { JobRunner } from './runner.js';

const MINUTE = 60_000;

/** Every periodic job of the shop, in one place. */
export function scheduleJobs(runner: JobRunner, deps: PaymentDeps & { db: Db; logger: Logger; bills?: BillSource }) {
  // Unpaid orders past their deadline: asked at Alipay first, then expired (or confirmed).
  runner.every('expiry sweep', MINUTE, () =>
    sweepExpiredOrders(deps, {
      onError: (outTradeNo, err) => deps.logger.warn({ err, outTradeNo }, 'expiry check failed; will retry next sweep'),
    }),
  );
  runner.every('session purge', MINUTE, async () => ({ purged: await purgeExpiredSessions(deps.db) }));
  const bills = deps.bills;
  if (bills) {
    // Yesterday's bill after 09:30 Beijing; one instance claims it, retried while not ready.
    runner.every('daily reconciliation', 5 * MINUTE, async () => {
      const result = await runDailyReconciliation({ ...deps, bills });
      return result.ran ? result : undefined;
    });
  }
}
