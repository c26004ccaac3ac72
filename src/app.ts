import path from 'node:path';
import express, { type Express } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { Config } from './config.js';
import type { Db } from './db/client.js';
import type { Logger } from './logger.js';
import { PROJECT_ROOT } from './paths.js';
import { formatPrice, formatYuan } from './shop/money.js';
import { createErrorHandler, notFound } from './web/errors.js';
import { catalogRoutes } from './web/routes/catalog.js';
import { healthRoutes } from './web/routes/health.js';

export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
}

/** Builds the shop; never listens (src/main.ts does). */
export function createApp(deps: AppDeps): Express {
  const { config, db, logger } = deps;
  const app = express();
  app.set('trust proxy', config.trustProxy);
  app.set('view engine', 'ejs');
  app.set('views', path.join(PROJECT_ROOT, 'views'));
  app.disable('x-powered-by');
  app.locals.formatPrice = formatPrice;
  app.locals.formatYuan = formatYuan;

  app.use(pinoHttp({ logger, autoLogging: { ignore: (req) => req.url === '/healthz' } }));
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          // No CDN: everything is served by the app. `upgrade-insecure-requests` would break plain-http localhost.
          'upgrade-insecure-requests': null,
        },
      },
    }),
  );
  app.use('/static', express.static(path.join(PROJECT_ROOT, 'public', 'static'), { maxAge: config.env === 'production' ? '1d' : 0 }));

  app.use(healthRoutes(db));
  app.use(catalogRoutes(db));

  app.use(notFound);
  app.use(createErrorHandler({ showStack: config.env !== 'production' }));
  return app;
}
