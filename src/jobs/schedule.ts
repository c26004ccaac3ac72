import type { Db } from '../db/client.js';
import { createRateLimiter } from '../db/rate-limiter.js';
import type { Logger } from '../logger.js';
import type { PaymentDeps } from '../shop/payments/confirm.js';
import { sweepExpiredOrders } from '../shop/payments/expiry.js';
import { purgeExpiredSessions } from '../db/session-store.js';
import type { JobRunner } from './runner.js';

const MINUTE = 60_000;

/** Every periodic job of the shop, in one place. */
export function scheduleJobs(runner: JobRunner, deps: PaymentDeps & { db: Db; logger: Logger; expiryChecksPerMinute?: number }) {
  const limiter = createRateLimiter(deps.db);
  const budget = { name: 'expiry-checks', limit: deps.expiryChecksPerMinute ?? 300, windowMs: MINUTE };
  // Unpaid orders past their deadline: asked at Alipay first, then expired (or confirmed).
  runner.every('expiry sweep', MINUTE, () =>
    sweepExpiredOrders(deps, {
      takeBudget: (n) => limiter.take(budget, 'all', n),
      onError: (outTradeNo, err) => deps.logger.warn({ err, outTradeNo }, 'expiry check failed; will retry next sweep'),
    }),
  );
  runner.every('session purge', MINUTE, async () => ({ purged: await purgeExpiredSessions(deps.db) }));
  runner.every('rate limit purge', MINUTE, async () => ({ purged: await limiter.purgeExpired() }));
}
