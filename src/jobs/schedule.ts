import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { PaymentDeps } from '../shop/payments/confirm.js';
import { sweepExpiredOrders } from '../shop/payments/expiry.js';
import { purgeExpiredSessions } from '../db/session-store.js';
import { purgeExpiredTokens } from '../accounts/tokens.js';
import type { JobRunner } from './runner.js';

const MINUTE = 60_000;

/** Every periodic job of the shop, in one place. */
export function scheduleJobs(
  runner: JobRunner,
  deps: PaymentDeps & { db: Db; logger: Logger; mail?: { pollMs: number; deliverDue(): Promise<object> } },
) {
  // Unpaid orders past their deadline: asked at Alipay first, then expired (or confirmed).
  runner.every('expiry sweep', MINUTE, () =>
    sweepExpiredOrders(deps, {
      onError: (outTradeNo, err) => deps.logger.warn({ err, outTradeNo }, 'expiry check failed; will retry next sweep'),
    }),
  );
  runner.every('session purge', MINUTE, async () => ({ purged: await purgeExpiredSessions(deps.db) }));
  runner.every('shopper token purge', 60 * MINUTE, async () => ({ purged: await purgeExpiredTokens(deps.db) }));
  // The mail outbox: sends what committed transactions wrote, with retries (src/mail/outbox.ts).
  const mail = deps.mail;
  if (mail) runner.every('mail outbox', mail.pollMs, () => mail.deliverDue());
}
