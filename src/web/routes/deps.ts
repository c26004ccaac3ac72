import type { ShopperAccounts } from '../../accounts/shoppers.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import type { RateLimiter } from '../../db/rate-limiter.js';
import type { AlipayPayments } from '../../payments/alipay-adapter.js';
import type { ShopEvents } from '../../shop/events.js';
import type { Metrics } from '../../ops/metrics.js';
import type { PaymentDeps } from '../../shop/payments/confirm.js';

export interface ShopRouteDeps {
  db: Db;
  payments: AlipayPayments;
  events: ShopEvents;
  ttlMinutes: number;
  /** Counts notifications by outcome and the transitions they make (src/ops/metrics.ts). */
  metrics?: Pick<Metrics, 'notification' | 'orderTransition'>;
  /** Shopper accounts: a signed-in shopper's orders and cart belong to the account. */
  accounts?: ShopperAccounts;
  limiter: RateLimiter;
  limits: Config['limits'];
}

const MINUTE = 60_000;
export const ORDER_LIMIT_WINDOW_MS = 10 * MINUTE;

/** What the shop's payment use cases need, from the routes' dependencies. */
export function paymentDeps(deps: ShopRouteDeps): PaymentDeps {
  const checks = { name: 'order-checks', limit: deps.limits.orderChecksPerMinute, windowMs: MINUTE };
  return {
    db: deps.db,
    provider: deps.payments,
    events: deps.events,
    queryBudget: async () => (await deps.limiter.hit(checks, 'all')).allowed,
  };
}
