// Standalone sandbox gateway (`npm run sandbox`): the emulator on its own port, for pointing any
// Alipay client at it. SANDBOX_PORT (3999), DATA_DIR (./data), DATABASE_URL (embedded PostgreSQL).
import 'dotenv/config';
import type { Server } from 'node:http';
import path from 'node:path';
import express from 'express';
import { createDb } from '../db/client.js';
import { openDatabase } from '../db/database.js';
import { createLogger } from '../logger.js';
import { PROJECT_ROOT } from '../paths.js';
import { createSandboxGateway } from './gateway.js';
import { ensureSandboxKeys, gatewayKeyOptions } from './keys.js';
import { loadConfig, type Config } from '../config.js';

let config: Config;
try {
  config = loadConfig(process.env);
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
const port = config.sandboxPort;
const logger = createLogger(config.logLevel);

const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger });
const db = createDb(database.url);
const keys = await ensureSandboxKeys(path.join(config.dataDir, 'keys'));
const sandbox = createSandboxGateway({
  db,
  ...gatewayKeyOptions(keys),
  basePath: '/sandbox',
  timeScale: config.sandboxTimeScale,
  logger: logger.child({ component: 'sandbox' }),
});

const app = express();
app.disable('x-powered-by');
app.set('view engine', 'ejs');
app.set('views', path.join(PROJECT_ROOT, 'views'));
app.get('/', (_req, res) => res.redirect('/sandbox/'));
app.use('/sandbox', sandbox.router);
sandbox.start();

const server: Server = app.listen(port, () => {
  const base = `http://localhost:${port}`;
  console.log(
    [
      `Alipay sandbox gateway: ${base}${sandbox.gatewayPath}`,
      `Console:                ${base}/sandbox/`,
      `app_id:                 ${keys.appId}`,
      `seller_id:              ${keys.sellerId}`,
      `App private key:        ${keys.files.appPrivateKey}`,
      `Alipay public key:      ${keys.files.alipayPublicKey}`,
    ].join('\n'),
  );
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'sandbox shutting down');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await sandbox.stop();
  await db.$disconnect();
  await database.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
