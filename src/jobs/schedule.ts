import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { PaymentDeps } from '../shop/payments/confirm.js';
import { sweepExpiredOrders } from '../shop/payments/expiry.js';
import { settlePendingRefunds } from '../shop/payments/refunds.js';
import { purgeExpiredSessions } from '../db/session-store.js';
import type { JobRunner } from './runner.js';

const MINUTE = 60_000;

/** Every periodic job of the shop, in one place. */
export function scheduleJobs(runner: JobRunner, deps: PaymentDeps & { db: Db; logger: Logger }) {
  // Unpaid orders past their deadline: asked at Alipay first, then expired (or confirmed).
  runner.every('expiry sweep', MINUTE, () =>
    sweepExpiredOrders(deps, {
      onError: (outTradeNo, err) => deps.logger.warn({ err, outTradeNo }, 'expiry check failed; will retry next sweep'),
    }),
  );
  // Refunds whose answer was ambiguous: asked about (never sent again) until Alipay says.
  runner.every('refund check', MINUTE, () => settlePendingRefunds(deps));
  runner.every('session purge', MINUTE, async () => ({ purged: await purgeExpiredSessions(deps.db) }));
}
