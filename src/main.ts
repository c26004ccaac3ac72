import 'dotenv/config';
import type { Server } from 'node:http';
import { createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createDb } from './db/client.js';
import { openDatabase } from './db/database.js';
import { createLogger } from './logger.js';
import { seedIfEmpty } from './shop/seed.js';

function readConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}

const config = readConfig();
const logger = createLogger(config.logLevel);

async function start() {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
  const db = createDb(database.url);
  if (await seedIfEmpty(db)) logger.info('empty database: sample goods added');

  const app = createApp({ config, db, logger });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host ?? '', () => resolve(s));
    s.once('error', reject);
  }).catch(async (err: NodeJS.ErrnoException) => {
    await db.$disconnect();
    await database.close();
    if (err.code === 'EADDRINUSE') {
      logger.fatal(`Port ${config.port} is already in use. Stop the other program or set PORT to a free port.`);
      process.exit(1);
    }
    throw err;
  });
  logger.info({ url: config.publicBaseUrl, database: database.embedded ? 'embedded' : 'external' }, `shop listening on port ${config.port}`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => server.closeAllConnections(), 10_000);
    force.unref();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    clearTimeout(force);
    await db.$disconnect();
    await database.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

start().catch((err) => {
  logger.fatal({ err }, err instanceof Error ? err.message : 'startup failed');
  process.exit(1);
});
