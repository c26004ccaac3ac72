import { randomBytes } from 'node:crypto';
import path from 'node:path';
import express, { type Express, type Router } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { Config } from './config.js';
import type { Db } from './db/client.js';
import type { Logger } from './logger.js';
import { PROJECT_ROOT } from './paths.js';
import { formatPrice, formatYuan } from './lib/money.js';
import type { AlipayPayments } from './payments/alipay-adapter.js';
import { countCartItems } from './shop/cart.js';
import { NO_EVENTS, type ShopEvents } from './shop/events.js';
import { formatBeijingTime } from './web/format.js';
import { createErrorHandler, notFound } from './web/errors.js';
import { alipayRoutes } from './web/routes/alipay.js';
import { cartRoutes } from './web/routes/cart.js';
import { catalogRoutes } from './web/routes/catalog.js';
import { healthRoutes } from './web/routes/health.js';
import { orderRoutes } from './web/routes/orders.js';
import { csrfProtection } from './web/csrf.js';
import { sessionMiddleware } from './web/session.js';

export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  payments: AlipayPayments;
  /** Subscribers to the shop's domain events (the mail outbox, later); none by default. */
  events?: ShopEvents;
  sessionSecret: string;
  /** The built-in sandbox gateway's routes, mounted at `sandbox.basePath` when it is in use. */
  sandbox?: { basePath: string; router: Router };
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
    const nonce = randomBytes(16).toString('base64');
    res.locals.cspNonce = nonce;
    for (const h of set) res.setHeader(h.name, h.fixed ?? `${h.before}${nonce}${h.after}`);
    next();
  };
}

/** Builds the shop; never listens (src/main.ts does). */
export function createApp(deps: AppDeps): Express {
  const { config, db, logger, payments } = deps;
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
    pinoHttp({
      logger,
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url?.startsWith('/static/') === true },
      serializers: {
        req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url.replace(/([?&](sign|biz_content)=)[^&]*/g, '$1…') }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    }),
  );
  app.use(
    securityHeaders({
      contentSecurityPolicy: {
        directives: {
          'script-src': ["'self'", (_req, res) => `'nonce-${(res as express.Response).locals.cspNonce}'`],
          // The buy forms answer with a redirect to Alipay's gateway: browsers apply form-action to it.
          'form-action': ["'self'", ...payments.formActionSources],
          // No CDN: everything is served by the app. `upgrade-insecure-requests` would break plain-http localhost.
          'upgrade-insecure-requests': null,
        },
      },
      strictTransportSecurity: config.publicBaseUrl.startsWith('https:'),
    }),
  );
  app.use('/static', express.static(path.join(PROJECT_ROOT, 'public', 'static'), { maxAge: config.env === 'production' ? '1d' : 0 }));
  app.use(healthRoutes(db));
  if (deps.sandbox) app.use(deps.sandbox.basePath, deps.sandbox.router);
  const shop = { db, payments, events: deps.events ?? NO_EVENTS, ttlMinutes: config.orderTtlMinutes };
  app.use(alipayRoutes(shop));

  app.use(express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 }));
  const secureCookie = config.publicBaseUrl.startsWith('https:');
  app.use(sessionMiddleware({ db, secret: deps.sessionSecret, secureCookie }));
  app.use(csrfProtection({ secret: deps.sessionSecret, secureCookie }));
  app.use((req, res, next) => {
    res.locals.cartCount = countCartItems(req.session.cart ?? {});
    next();
  });

  app.use(catalogRoutes(db, { cacheMs: config.catalogCacheMs }));
  app.use(cartRoutes(shop));
  app.use(orderRoutes(shop));

  app.use(notFound);
  app.use(createErrorHandler({ showStack: config.env !== 'production' }));
  return app;
}
