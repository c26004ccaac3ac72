import type { Db } from '../db/client.js';
import { createRateLimiter } from '../db/rate-limiter.js';
import type { Logger } from '../logger.js';
import type { PaymentDeps } from '../shop/payments/confirm.js';
import { sweepExpiredOrders } from '../shop/payments/expiry.js';
import type { BillSource } from '../shop/payments/reconciliation.js';
import { runDailyReconciliation } from '../shop/payments/reconciliation-job.js';
import { settlePendingRefunds } from '../shop/payments/refunds.js';
import { purgeExpiredSessions } from '../db/session-store.js';
import { purgePaymentEvents } from '../shop/payments/retention.js';
import { purgeExpiredTokens } from '../accounts/tokens.js';
import type { JobRunner } from './runner.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export interface ScheduleOptions {
  /** Shrinks every period (tests run the jobs every second or so); 1 in production. */
  timeScale?: number;
  /** Payment events older than this many days are deleted; undefined keeps them forever. */
  paymentEventRetentionDays?: number;
  /** Hears the orders the sweep moved (metrics). */
  onTransitions?: (status: 'EXPIRED' | 'PAID', count: number) => void;
}

/** Every periodic job of the shop, in one place. */
export function scheduleJobs(
  runner: JobRunner,
  deps: PaymentDeps & { db: Db; logger: Logger; bills?: BillSource; expiryChecksPerMinute?: number; mail?: { pollMs: number; deliverDue(): Promise<object> } },
  opts: ScheduleOptions = {},
) {
  const period = (ms: number) => Math.max(100, Math.round(ms * (opts.timeScale ?? 1)));
  const limiter = createRateLimiter(deps.db);
  const budget = { name: 'expiry-checks', limit: deps.expiryChecksPerMinute ?? 300, windowMs: MINUTE };
  // Unpaid orders past their deadline: asked at Alipay first, then expired (or confirmed).
  runner.every('expiry sweep', period(MINUTE), async () => {
    const result = await sweepExpiredOrders(deps, {
      takeBudget: (n) => limiter.take(budget, 'all', n),
      onError: (outTradeNo, err) => deps.logger.warn({ err, outTradeNo }, 'expiry check failed; will retry next sweep'),
    });
    opts.onTransitions?.('EXPIRED', result.expired);
    opts.onTransitions?.('PAID', result.paid);
    return result;
  });
  runner.every('session purge', period(MINUTE), async () => ({ purged: await purgeExpiredSessions(deps.db) }));
  runner.every('rate limit purge', period(MINUTE), async () => ({ purged: await limiter.purgeExpired() }));
  const days = opts.paymentEventRetentionDays;
  if (days !== undefined) {
    runner.every('payment event retention', period(HOUR), async () => ({ purged: await purgePaymentEvents(deps.db, days) }));
  }
  const bills = deps.bills;
  if (bills) {
    // Yesterday's bill after 09:30 Beijing; one instance claims it, retried while not ready.
    runner.every('daily reconciliation', period(5 * MINUTE), async () => {
      const result = await runDailyReconciliation({ ...deps, bills });
      return result.ran ? result : undefined;
    });
  }
  runner.every('shopper token purge', period(60 * MINUTE), async () => ({ purged: await purgeExpiredTokens(deps.db) }));
  // The mail outbox: sends what committed transactions wrote, with retries (src/mail/outbox.ts).
  const mail = deps.mail;
  if (mail) runner.every('mail outbox', mail.pollMs, () => mail.deliverDue());
  // Refunds whose answer was ambiguous: asked about (never sent again) until Alipay says.
  runner.every('refund check', period(MINUTE), () => settlePendingRefunds(deps));
}
