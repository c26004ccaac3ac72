// Standalone sandbox gateway (`npm run sandbox`): the emulator on its own port, for pointing any
// Alipay client at it. SANDBOX_PORT (3999), DATA_DIR (./data), DATABASE_URL (embedded PostgreSQL),
// SANDBOX_CERT_MODE=true for public-key certificate mode.
// `npm run sandbox -- cert-mode --out <dir>` writes the certificate-mode files for another integration.
import type { Server } from 'node:http';
import path from 'node:path';
import express from 'express';
import { runMain } from '../boot.js';
import { ensureWritableDir, StartupError } from '../lib/startup-error.js';
import { createDb } from '../db/client.js';
import { openDatabase } from '../db/database.js';
import { PROJECT_ROOT } from '../paths.js';
import { ensureSandboxKeys } from './keys.js';
import { exportCertModeFiles } from './cert-mode.js';
import { createBuiltInSandbox } from '../wiring.js';

const args = process.argv.slice(2);

if (args[0] === 'cert-mode') {
  await runMain(
    async ({ config }) => {
      const outIndex = args.indexOf('--out');
      const out = outIndex >= 0 ? args[outIndex + 1] : undefined;
      if (out === undefined || out === '') {
        console.error('usage: npm run sandbox -- cert-mode --out <dir>');
        process.exit(2);
      }
      const keysDir = path.join(config.dataDir, 'keys');
      const keys = await ensureSandboxKeys(keysDir);
      const files = await exportCertModeFiles(keysDir, keys, out);
      console.log(
        [
          `Certificate-mode files written to ${path.resolve(out)}. Start the sandbox with SANDBOX_CERT_MODE=true npm run sandbox, then use:`,
          '',
          `ALIPAY_GATEWAY=http://localhost:${config.sandboxPort}/sandbox/gateway.do`,
          `ALIPAY_APP_ID=${keys.appId}`,
          `ALIPAY_APP_PRIVATE_KEY_FILE=${files.appPrivateKey}`,
          `ALIPAY_APP_CERT_FILE=${files.appCert}`,
          `ALIPAY_CERT_FILE=${files.alipayCert}`,
          `ALIPAY_ROOT_CERT_FILE=${files.rootCert}`,
          `ALIPAY_SELLER_ID=${keys.sellerId}`,
        ].join('\n'),
      );
    },
    { signals: false },
  );
  process.exit(0);
}

await runMain(async ({ config, logger, onShutdown }) => {
  const port = config.sandboxPort;
  await ensureWritableDir(config.dataDir, 'DATA_DIR');
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger, exclusive: true });
  onShutdown('database server', () => database.close());
  const db = createDb(database.url);
  onShutdown('database pool', () => db.$disconnect());
  const { sandbox, keys, certMode } = await createBuiltInSandbox(config, db, logger);

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
      ...(certMode
        ? [
            `App certificate:        ${certMode.files.appCert}`,
            `Alipay certificate:     ${certMode.files.alipayCert}`,
            `Alipay root bundle:     ${certMode.files.rootCert}`,
          ]
        : [`Alipay public key:      ${keys.files.alipayPublicKey}`]),
    ].join('\n'),
  );
});
