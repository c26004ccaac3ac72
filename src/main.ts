import type { Server } from 'node:http';
import { createApp } from './app.js';
import { runMain } from './boot.js';
import { createDb } from './db/client.js';
import { openDatabase } from './db/database.js';
import { createJobRunner } from './jobs/runner.js';
import { scheduleJobs } from './jobs/schedule.js';
import { createMediaLibrary, createMediaStore } from './media/index.js';
import { drawSeedPicture } from './media/seed-pictures.js';
import { createAlipayPayments } from './payments/alipay-adapter.js';
import { NO_EVENTS } from './shop/events.js';
import { seedIfEmpty } from './shop/seed.js';
import { ensureFirstOperator, resolveSessionSecret, setUpPayments } from './wiring.js';

function listen(app: ReturnType<typeof createApp>, port: number, host: string | undefined): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    const server = app.listen(port, host ?? '', (err?: Error) => (err ? reject(err) : resolve(server)));
    server.once('error', reject);
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE') throw new Error(`Port ${port} is already in use. Stop the other program or set PORT to a free port.`);
    throw err;
  });
}

await runMain(async ({ config, logger, onShutdown }) => {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
  onShutdown('database server', () => database.close());
  const db = createDb(database.url, { poolSize: config.databasePoolSize });
  onShutdown('database pool', () => db.$disconnect());

  const mediaStore = createMediaStore(config);
  const pictures = { media: createMediaLibrary(mediaStore), draw: drawSeedPicture };
  if (await seedIfEmpty(db, pictures)) logger.info('empty database: sample goods added');
  await ensureFirstOperator(config, db, database.embedded, logger);
  const { settings, sandbox } = await setUpPayments(config, db, logger);
  const sessionSecret = await resolveSessionSecret(config);
  const payments = createAlipayPayments(settings, config.publicBaseUrl);
  const events = NO_EVENTS;
  const app = createApp({ config, db, logger, payments, events, sessionSecret, media: mediaStore, sandbox: sandbox && { basePath: '/sandbox', router: sandbox.router } });

  const server = await listen(app, config.port, config.host);
  onShutdown('http server', async () => {
    logger.info('finishing in-flight requests');
    const force = setTimeout(() => server.closeAllConnections(), 10_000);
    force.unref();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    clearTimeout(force);
  });
  logger.info({ url: config.publicBaseUrl, database: database.embedded ? 'embedded' : 'external' }, `shop listening on port ${config.port}`);

  if (sandbox) {
    sandbox.start();
    onShutdown('sandbox notifier', () => sandbox.stop());
  }
  const jobs = createJobRunner(logger);
  scheduleJobs(jobs, { db, provider: payments, events, logger });
  onShutdown('jobs', () => jobs.stop());
});
