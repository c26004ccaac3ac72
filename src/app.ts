import { randomBytes } from 'node:crypto';
import path from 'node:path';
import express, { type Express, type Router } from 'express';
import helmet from 'helmet';
import type { Config } from './config.js';
import type { Db } from './db/client.js';
import { createRateLimiter } from './db/rate-limiter.js';
import type { Logger } from './logger.js';
import { PROJECT_ROOT } from './paths.js';
import { formatPrice, formatYuan } from './lib/money.js';
import type { AlipayPayments } from './payments/alipay-adapter.js';
import { createMediaLibrary, createMediaStore, type MediaStore } from './media/index.js';
import { countCartItems } from './shop/cart.js';
import { NO_EVENTS, type ShopEvents } from './shop/events.js';
import { formatBeijingTime } from './web/format.js';
import { createErrorHandler, notFound } from './web/errors.js';
import { createShopperAccounts } from './accounts/shoppers.js';
import type { AccountEvents } from './accounts/events.js';
import { accountRoutes, loadShopper } from './web/routes/account.js';
import { devMailRoutes } from './web/routes/dev-mail.js';
import { createAdminRouter } from './admin/router.js';
import { ADMIN_BASE } from './admin/session.js';
import { alipayRoutes } from './web/routes/alipay.js';
import { cartRoutes } from './web/routes/cart.js';
import { catalogRoutes } from './web/routes/catalog.js';
import { healthRoutes } from './web/routes/health.js';
import { mediaRoutes } from './web/routes/media.js';
import { orderRoutes } from './web/routes/orders.js';
import { csrfProtection } from './web/csrf.js';
import { randomToken } from './web/random-token.js';
import { existingSession, sessionMiddleware } from './web/session.js';
import { createMetrics, metricsRoutes, type Metrics } from './ops/metrics.js';
import { createReadiness, readinessRoutes, type Readiness } from './ops/readiness.js';
import { requestLogging } from './ops/request-log.js';

export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  payments: AlipayPayments;
  /** Subscribers to the shop's domain events (the mail outbox, later); none by default. */
  events?: ShopEvents;
  /** Subscribers to the shopper accounts' events (the mail outbox: verification and reset links). */
  accountEvents?: AccountEvents;
  /** The dev mailbox's folder (mail written to files, no SMTP): /dev/mail lists it, never in production. */
  devMailDir?: string;
  sessionSecret: string;
  /** Where goods pictures are stored; the configured one (local disk by default) when not given. */
  media?: MediaStore;
  /** The built-in sandbox gateway's routes, mounted at `sandbox.basePath` when it is in use. */
  sandbox?: { basePath: string; router: Router };
  /** Prometheus metrics (src/ops/metrics.ts); a private registry when omitted. */
  metrics?: Metrics;
  /** What /readyz reports; main.ts marks it shutting down first at shutdown. */
  readiness?: Readiness;
}

/**
 * helmet's headers, computed once: helmet runs at start-up against a stand-in response whose CSP
 * nonce is a marker, and each request gets the same headers with its own nonce in its place.
 */
function securityHeaders(options: Parameters<typeof helmet>[0]): express.RequestHandler {
  const marker = `nonce${randomBytes(18).toString('hex')}`;
  const headers = new Map<string, string>();
  const stand = {
    locals: { cspNonce: marker },
    setHeader: (name: string, value: unknown) => headers.set(name, String(value)),
    removeHeader: (name: string) => headers.delete(name),
  };
  let ran = false;
  helmet(options)({} as express.Request, stand as unknown as express.Response, (err?: unknown) => {
    if (err) throw err;
    ran = true;
  });
  if (!ran) throw new Error('helmet did not finish synchronously');
  const set = [...headers].map(([name, value]) => {
    const [before, after] = value.split(marker);
    return after === undefined ? { name, fixed: value } : { name, before: before!, after };
  });
  return (_req, res, next) => {
    const nonce = randomToken(16, 'base64');
    res.locals.cspNonce = nonce;
    for (const h of set) res.setHeader(h.name, h.fixed ?? `${h.before}${nonce}${h.after}`);
    next();
  };
}

/** Builds the shop; never listens (src/main.ts does). */
export function createApp(deps: AppDeps): Express {
  const { config, db, logger, payments } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const mediaStore = deps.media ?? createMediaStore(config);
  const media = createMediaLibrary(mediaStore);
  const app = express();
  app.set('trust proxy', config.trustProxy);
  app.set('view engine', 'ejs');
  app.set('views', path.join(PROJECT_ROOT, 'views'));
  app.disable('x-powered-by');
  // Express turns the view cache on from process.env.NODE_ENV; follow the validated config instead.
  app.set('view cache', config.env === 'production');
  app.locals.formatPrice = formatPrice;
  app.locals.formatYuan = formatYuan;
  app.locals.formatTime = formatBeijingTime;
  app.locals.sandboxBanner = deps.sandbox !== undefined;

  app.use(
    requestLogging(app, logger, {
      ignore: (url) => ['/healthz', '/readyz', '/metrics'].includes(url) || url.startsWith('/static/'),
      // Signatures, and the single-use links of shopper accounts (?token=, /account/reset/<token>), stay out of logs.
      redactUrl: (url) => url.replace(/([?&](sign|biz_content|token|_csrf)=)[^&]*/g, '$1…').replace(/^(\/account\/reset\/)[^/?#]+/, '$1…'),
    }),
  );
  app.use(metrics.requests);
  app.use(
    securityHeaders({
      contentSecurityPolicy: {
        directives: {
          'script-src': ["'self'", (_req, res) => `'nonce-${(res as express.Response).locals.cspNonce}'`],
          // The buy forms answer with a redirect to Alipay's gateway: browsers apply form-action to it.
          'form-action': ["'self'", ...payments.formActionSources],
          'img-src': ["'self'", 'data:', ...(config.media.publicBaseUrl ? [new URL(config.media.publicBaseUrl).origin] : [])],
          // No CDN: everything is served by the app. `upgrade-insecure-requests` would break plain-http localhost.
          'upgrade-insecure-requests': null,
        },
      },
      strictTransportSecurity: config.publicBaseUrl.startsWith('https:'),
    }),
  );
  app.use('/static', express.static(path.join(PROJECT_ROOT, 'public', 'static'), { maxAge: config.env === 'production' ? '1d' : 0 }));
  app.use(healthRoutes(db));
  app.use(readinessRoutes(deps.readiness ?? createReadiness(db)));
  if (config.ops.metricsToken) app.use(metricsRoutes(metrics, { token: config.ops.metricsToken }));
  app.use(mediaRoutes(mediaStore));
  if (deps.sandbox) app.use(deps.sandbox.basePath, deps.sandbox.router);
  const accounts = createShopperAccounts({ db, events: deps.accountEvents });
  const shop = { db, payments, events: deps.events ?? NO_EVENTS, ttlMinutes: config.orderTtlMinutes, metrics, accounts, limiter: createRateLimiter(db), limits: config.limits };
  app.use(alipayRoutes(shop));

  const secureCookie = config.publicBaseUrl.startsWith('https:');
  // Before the shoppers' session: the console has its own (cookie admin.sid, path /admin) and body limits.
  app.use(ADMIN_BASE, createAdminRouter({ db, payments, events: shop.events, media, sessionSecret: deps.sessionSecret, secureCookie }));
  app.use(express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 }));
  app.use(sessionMiddleware({ db, secret: deps.sessionSecret, secureCookie }));
  app.use(csrfProtection({ secret: deps.sessionSecret, secureCookie }));
  app.use(loadShopper(accounts));
  app.use((req, res, next) => {
    res.locals.cartCount = countCartItems(existingSession(req)?.cart ?? {});
    next();
  });

  app.use(catalogRoutes(db, media, { cacheMs: config.catalogCacheMs }));
  app.use(cartRoutes(shop));
  app.use(orderRoutes(shop));
  app.use(accountRoutes(accounts, { db }));
  if (deps.devMailDir && config.env !== 'production') app.use(devMailRoutes(deps.devMailDir));

  app.use(notFound);
  app.use(createErrorHandler({ showStack: config.env !== 'production' }));
  return app;
}
