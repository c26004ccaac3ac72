// Standalone sandbox gateway (`npm run sandbox`): the emulator on its own port, for pointing any
// Alipay client at it. SANDBOX_PORT (3999), DATA_DIR (./data), DATABASE_URL (embedded PostgreSQL).
import type { Server } from 'node:http';
import path from 'node:path';
import express from 'express';
import { runMain } from '../boot.js';
import { ensureWritableDir, StartupError } from '../lib/startup-error.js';
import { createDb } from '../db/client.js';
import { openDatabase } from '../db/database.js';
import { PROJECT_ROOT } from '../paths.js';
import { createSandboxGateway } from './gateway.js';
import { ensureSandboxKeys, gatewayKeyOptions } from './keys.js';
import { sandboxAccess } from '../wiring.js';

await runMain(async ({ config, logger, onShutdown }) => {
  const port = config.sandboxPort;
  await ensureWritableDir(config.dataDir, 'DATA_DIR');
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger, exclusive: true });
  onShutdown('database server', () => database.close());
  const db = createDb(database.url);
  onShutdown('database pool', () => db.$disconnect());
  const keys = await ensureSandboxKeys(path.join(config.dataDir, 'keys'));
  const sandbox = createSandboxGateway({
    db,
    ...gatewayKeyOptions(keys),
    basePath: '/sandbox',
    timeScale: config.sandboxTimeScale,
    logger: logger.child({ component: 'sandbox' }),
    access: await sandboxAccess(config, logger),
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('view engine', 'ejs');
  app.set('views', path.join(PROJECT_ROOT, 'views'));
  app.get('/', (_req, res) => res.redirect('/sandbox/'));
  app.use('/sandbox', sandbox.router);
  sandbox.start();
  onShutdown('sandbox notifier', () => sandbox.stop());

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, (err?: Error) => (err ? reject(err) : resolve(s)));
    s.once('error', reject);
  }).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'EADDRINUSE' ? new StartupError(`Port ${port} is already in use. Stop the other program or set SANDBOX_PORT to a free port.`) : err;
  });
  onShutdown('http server', () => new Promise<void>((resolve) => server.close(() => resolve())));
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
