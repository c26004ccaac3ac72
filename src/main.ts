import 'dotenv/config';
import type { Server } from 'node:http';
import { createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createDb } from './db/client.js';
import { openDatabase, type Database } from './db/database.js';
import { createLogger } from './logger.js';
import { sweepExpiredOrders } from './shop/reconcile.js';
import { seedIfEmpty } from './shop/seed.js';
import { createAlipayGateway } from './web/alipay-gateway.js';
import { purgeExpiredSessions } from './web/session.js';
import { resolveSessionSecret, setUpPayments } from './wiring.js';

function fail(err: unknown): never {
  if (err instanceof ConfigError) console.error(err.message);
  else logger.fatal({ err }, err instanceof Error ? err.message : 'startup failed');
  process.exit(1);
}

let config: Config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
const logger = createLogger(config.logLevel);
const SWEEP_INTERVAL_MS = 60_000;

async function start() {
  let database: Database | undefined;
  try {
    database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
  } catch (err) {
    fail(err);
  }
  const db = createDb(database.url, { poolSize: config.databasePoolSize });
  const stopAll = async () => {
    await db.$disconnect();
    await database.close();
  };
  let payments: Awaited<ReturnType<typeof setUpPayments>>;
  let sessionSecret: string;
  try {
    if (await seedIfEmpty(db)) logger.info('empty database: sample goods added');
    payments = await setUpPayments(config, db, logger);
    sessionSecret = await resolveSessionSecret(config);
  } catch (err) {
    await stopAll();
    fail(err);
  }
  const alipay = createAlipayGateway(payments.settings, config.publicBaseUrl);
  const { sandbox } = payments;
  const app = createApp({ config, db, logger, alipay, sessionSecret, sandbox: sandbox && { basePath: '/sandbox', router: sandbox.router } });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host ?? '', () => resolve(s));
    s.once('error', reject);
  }).catch(async (err: NodeJS.ErrnoException) => {
    await stopAll();
    if (err.code === 'EADDRINUSE') {
      console.error(`Port ${config.port} is already in use. Stop the other program or set PORT to a free port.`);
      process.exit(1);
    }
    return fail(err);
  });
  sandbox?.start();
  logger.info({ url: config.publicBaseUrl, database: database.embedded ? 'embedded' : 'external' }, `shop listening on port ${config.port}`);

  // Periodic upkeep: expire unpaid orders past their deadline (after asking Alipay), drop old sessions.
  let sweeping = false;
  const sweep = async () => {
    if (sweeping) return;
    sweeping = true;
    try {
      const result = await sweepExpiredOrders(db, alipay.provider, alipay.merchant, {
        onError: (outTradeNo, err) => logger.warn({ err, outTradeNo }, 'expiry check failed; will retry next sweep'),
      });
      if (result.expired || result.paid || result.failed) logger.info(result, 'expiry sweep');
      await purgeExpiredSessions(db);
    } catch (err) {
      logger.error({ err }, 'expiry sweep failed');
    } finally {
      sweeping = false;
    }
  };
  const timer = setInterval(() => void sweep(), SWEEP_INTERVAL_MS);
  void sweep();

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    clearInterval(timer);
    const force = setTimeout(() => server.closeAllConnections(), 10_000);
    force.unref();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    clearTimeout(force);
    await sandbox?.stop();
    await stopAll();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

start().catch(fail);
