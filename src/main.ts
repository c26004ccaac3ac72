import { createServer, type RequestListener, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { createApp } from './app.js';
import { runMain } from './boot.js';
import { createDb, openPool, poolOf } from './db/client.js';
import { ensureWritableDir, StartupError } from './lib/startup-error.js';
import { openDatabase } from './db/database.js';
import { createJobClaim } from './jobs/claim.js';
import { createJobRunner } from './jobs/runner.js';
import { scheduleJobs } from './jobs/schedule.js';
import { errorText } from './lib/error-text.js';
import { createMetrics, metricsRoutes } from './ops/metrics.js';
import { createReadiness, startingHandler } from './ops/readiness.js';
import { retryWithBackoff } from './ops/wait-for-database.js';
import { createMediaLibrary, createMediaStore } from './media/index.js';
import { drawSeedPicture } from './media/seed-pictures.js';
import { createAlipayPayments } from './payments/alipay-adapter.js';
import { setUpMail } from './mail/setup.js';
import { seedIfEmpty } from './shop/seed.js';
import { ensureFirstOperator, resolveSessionSecret, setUpPayments } from './wiring.js';

function listen(server: Server, port: number, host: string | undefined, name = 'PORT'): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host ?? '', () => {
      server.off('error', reject);
      resolve(server);
    });
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE') throw new StartupError(`Port ${port} is already in use. Stop the other program or set ${name} to a free port.`);
    if (err.code === 'EACCES') throw new StartupError(`Port ${port} needs privileges this user does not have. Set ${name} to 1024 or above.`);
    throw err;
  });
}

function closeServer(server: Server): Promise<void> {
  const force = setTimeout(() => server.closeAllConnections(), 10_000);
  force.unref();
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  }).finally(() => clearTimeout(force));
}

await runMain(async ({ config, logger, onShutdown }) => {
  await ensureWritableDir(config.dataDir, 'DATA_DIR');
  const metrics = createMetrics({ processMetrics: true });
  // Listen at once: while the database is unreachable the process is alive (/healthz) but not
  // ready (/readyz 503), and retries with backoff instead of exiting into a crash loop.
  const startup: { lastError?: unknown } = {};
  let handler: RequestListener = startingHandler(startup);
  const server = await listen(createServer((req, res) => handler(req, res)), config.port, config.host);
  if (config.ops.metricsPort !== undefined) {
    const metricsApp = express().disable('x-powered-by').use(metricsRoutes(metrics, {}));
    const metricsServer = await listen(createServer(metricsApp), config.ops.metricsPort, config.host, 'METRICS_PORT');
    onShutdown('metrics server', () => closeServer(metricsServer));
    logger.info({ port: config.ops.metricsPort }, 'metrics served at /metrics');
  }

  const database = await retryWithBackoff(() => openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger, exclusive: true }), {
    onRetry: (err, delayMs, tries) => {
      startup.lastError = err;
      logger.warn({ err: errorText(err), tries, retryInMs: delayMs }, 'database unreachable; not ready, retrying');
    },
  });
  onShutdown('database server', () => database.close());
  const db = createDb(database.url, { poolSize: config.databasePoolSize, keepOpen: true });
  onShutdown('database pool', () => db.$disconnect());
  // Not fatal: a connection that cannot be opened now is opened on demand later.
  await openPool(db).catch((err: unknown) => logger.warn({ err: errorText(err) }, 'could not open every database connection up front'));
  const pool = poolOf(db);
  if (pool) metrics.watchPool(pool);

  const mediaStore = createMediaStore(config);
  const pictures = { media: createMediaLibrary(mediaStore), draw: drawSeedPicture };
  if (await seedIfEmpty(db, pictures)) logger.info('empty database: sample goods added');
  await ensureFirstOperator(config, db, database.embedded, logger);
  const { settings, sandbox } = await setUpPayments(config, db, logger);
  const sessionSecret = await resolveSessionSecret(config);
  const payments = createAlipayPayments({ ...settings, timeoutMs: config.ops.alipayTimeoutMs, onApiCall: metrics.alipayCall }, config.publicBaseUrl);
  const mail = setUpMail(config, db);
  onShutdown('mail transport', () => mail.transport.close());
  if (mail.devMailDir) logger.warn({ dir: mail.devMailDir }, 'no SMTP_URL: mail is written to files and listed at /dev/mail');
  const events = mail.subscribers.shop;
  const readiness = createReadiness(db);
  const app = createApp({
    media: mediaStore,
    config,
    db,
    logger,
    payments,
    events,
    accountEvents: mail.subscribers.accounts,
    devMailDir: mail.devMailDir,
    sessionSecret,
    metrics,
    readiness,
    sandbox: sandbox && { basePath: '/sandbox', router: sandbox.router },
  });

  handler = app;
  onShutdown('http server', () => {
    logger.info('finishing in-flight requests');
    return closeServer(server);
  });
  logger.info({ url: config.publicBaseUrl, database: database.embedded ? 'embedded' : 'external' }, `shop listening on port ${config.port}`);

  if (sandbox) {
    sandbox.start();
    onShutdown('sandbox notifier', () => sandbox.stop());
  }
  const jobs = createJobRunner(logger, { claim: createJobClaim(db), onRun: metrics.jobRun });
  scheduleJobs(
    jobs,
    { db, provider: payments, events, logger, bills: payments, expiryChecksPerMinute: config.limits.expiryChecksPerMinute, mail: { pollMs: config.mail.pollMs, deliverDue: () => mail.worker.deliverDue() } },
    { timeScale: config.ops.jobsTimeScale, paymentEventRetentionDays: config.ops.paymentEventRetentionDays, onTransitions: metrics.orderTransition },
  );
  onShutdown('jobs', () => jobs.stop());
  // Registered last, so it runs first: load balancers see /readyz fail, then requests drain.
  onShutdown('readiness', async () => {
    readiness.markShuttingDown();
    if (config.ops.shutdownDelayMs > 0) await sleep(config.ops.shutdownDelayMs);
  });
});
