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
import { ensureSandboxKeys } from './keys.js';

const port = Number(process.env['SANDBOX_PORT'] || 3999);
const dataDir = path.resolve(process.env['DATA_DIR'] || './data');
const logger = createLogger(process.env['LOG_LEVEL'] || 'info');

const database = await openDatabase({ databaseUrl: process.env['DATABASE_URL'] || undefined, dataDir, logger });
const db = createDb(database.url);
const keys = await ensureSandboxKeys(path.join(dataDir, 'keys'));
const sandbox = createSandboxGateway({
  db,
  appId: keys.appId,
  sellerId: keys.sellerId,
  appPublicKey: keys.appPublicKey,
  alipayPrivateKey: keys.alipayPrivateKey,
  alipayPublicKey: keys.alipayPublicKey,
  basePath: '/sandbox',
  timeScale: Number(process.env['SANDBOX_TIME_SCALE'] || 1),
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
