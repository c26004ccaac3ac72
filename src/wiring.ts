import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createFirstOperator } from './accounts/operators.js';
import { assertDistinctKeys, loadPrivateKey, loadPublicKey } from './alipay/index.js';
import { ConfigError, type Config } from './config.js';
import type { Db } from './db/client.js';
import type { Logger } from './logger.js';
import { createSandboxGateway, type SandboxGateway } from './sandbox/gateway.js';
import { ensureSandboxKeys, gatewayKeyOptions } from './sandbox/keys.js';
import { errorText } from './lib/error-text.js';
import type { AlipaySettings } from './payments/alipay-adapter.js';

export const SANDBOX_BASE_PATH = '/sandbox';

/** Parses the configured Alipay keys once; every problem is reported by setting name. */
export function alipaySettingsFromConfig(config: Config): AlipaySettings {
  const a = config.alipay;
  if (!a.appId || !a.appPrivateKey || !a.alipayPublicKey || !a.gatewayUrl) {
    throw new ConfigError(['ALIPAY_GATEWAY, ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY must all be set to use a real Alipay gateway']);
  }
  const problems: string[] = [];
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      problems.push(errorText(err));
      return undefined;
    }
  };
  const appPrivateKey = attempt(() => loadPrivateKey(a.appPrivateKey!, 'ALIPAY_APP_PRIVATE_KEY'));
  const alipayPublicKey = attempt(() => loadPublicKey(a.alipayPublicKey!, 'ALIPAY_PUBLIC_KEY'));
  if (appPrivateKey && alipayPublicKey) attempt(() => assertDistinctKeys(appPrivateKey, alipayPublicKey, 'ALIPAY_PUBLIC_KEY'));
  if (problems.length || !appPrivateKey || !alipayPublicKey) throw new ConfigError(problems);
  return {
    appId: a.appId,
    sellerId: a.sellerId,
    gatewayUrl: a.gatewayUrl,
    signType: a.signType,
    appPrivateKey,
    alipayPublicKey,
    pagePayMethod: a.pagePayMethod,
  };
}

export interface PaymentsSetup {
  settings: AlipaySettings;
  sandbox?: SandboxGateway;
}

/**
 * A real gateway when Alipay is configured; otherwise the built-in sandbox gateway, mounted in
 * this app, with keys generated into DATA_DIR/keys — the shop uses it exactly like a real one.
 */
export async function setUpPayments(config: Config, db: Db, logger: Logger): Promise<PaymentsSetup> {
  if (config.alipay.gatewayUrl || config.alipay.appId) return { settings: alipaySettingsFromConfig(config) };
  if (config.env === 'production' && !config.alipay.sandboxInProduction) {
    throw new ConfigError([
      'NODE_ENV=production but no Alipay gateway is configured: set ALIPAY_GATEWAY, ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY ' +
        '(or set ALIPAY_SANDBOX_IN_PRODUCTION=true to run on the built-in sandbox gateway, which takes no real money)',
    ]);
  }
  const keys = await ensureSandboxKeys(path.join(config.dataDir, 'keys'));
  const sandbox = createSandboxGateway({
    db,
    ...gatewayKeyOptions(keys),
    basePath: SANDBOX_BASE_PATH,
    timeScale: config.sandboxTimeScale,
    logger: logger.child({ component: 'sandbox' }),
  });
  logger.warn({ gateway: `${config.publicBaseUrl}${sandbox.gatewayPath}`, appId: keys.appId }, 'using the built-in Alipay sandbox gateway: no real money');
  return {
    sandbox,
    settings: {
      appId: keys.appId,
      sellerId: keys.sellerId,
      gatewayUrl: `${config.publicBaseUrl}${sandbox.gatewayPath}`,
      signType: config.alipay.signType,
      appPrivateKey: keys.appPrivateKey,
      alipayPublicKey: keys.alipayPublicKey,
      pagePayMethod: config.alipay.pagePayMethod,
    },
  };
}

/** SESSION_SECRET, or outside production one generated once into DATA_DIR/session-secret. */
export async function resolveSessionSecret(config: Config): Promise<string> {
  if (config.sessionSecret) return config.sessionSecret;
  if (config.env === 'production') {
    throw new ConfigError(['SESSION_SECRET must be set in production (the same value on every instance, at least 32 characters)']);
  }
  const file = path.join(config.dataDir, 'session-secret');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  await mkdir(config.dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  await writeFile(file, secret, { mode: 0o600 });
  return secret;
}

/**
 * Zero config: on the embedded database, outside production, the first start creates operator
 * admin@localhost and writes its password to DATA_DIR/operator-password.txt (0600). Never with
 * NODE_ENV=production or an external DATABASE_URL: there, use `npm run operator -- add`.
 */
export async function ensureFirstOperator(config: Config, db: Db, embedded: boolean, logger: Logger): Promise<void> {
  if (!embedded || config.env === 'production') return;
  const created = await createFirstOperator(db);
  if (!created) return;
  const file = path.join(config.dataDir, 'operator-password.txt');
  await mkdir(config.dataDir, { recursive: true });
  await writeFile(file, `${created.password}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  logger.info({ file }, `console: operator ${created.email} created, its password is in ${file} (sign in at ${config.publicBaseUrl}/admin)`);
}
