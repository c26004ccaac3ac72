import { randomBytes, type KeyObject } from 'node:crypto';
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
import { CertModeError, loadCertMode, type CertModeSetup } from './payments/alipay-cert-mode.js';
import { createAlipayCertStore } from './db/alipay-cert-store.js';
import type { AlipayCertStore } from './alipay/index.js';
import { ensureSandboxCertMode } from './sandbox/cert-mode.js';

export const SANDBOX_BASE_PATH = '/sandbox';

export interface CertModeDeps {
  /** Where downloaded Alipay certificates are cached (the database). */
  store?: AlipayCertStore;
  logger?: Logger;
  now?: () => Date;
}

/** Certificate mode: loads and checks the three files; problems become one ConfigError, expiry warnings are logged. */
function certModeFromFiles(files: NonNullable<Config['alipay']['certFiles']>, appPrivateKey: KeyObject | undefined, deps: CertModeDeps): CertModeSetup {
  try {
    const setup = loadCertMode(files, appPrivateKey, {
      ...(deps.store && { store: deps.store }),
      ...(deps.logger && { logger: deps.logger.child({ component: 'alipay-certificates' }) }),
      ...(deps.now && { now: deps.now }),
    });
    for (const warning of setup.warnings) deps.logger?.warn(warning);
    return setup;
  } catch (err) {
    if (err instanceof CertModeError) throw new ConfigError(err.problems);
    throw err;
  }
}

/** Parses the configured Alipay keys (or certificates) once; every problem is reported by setting name. */
export function alipaySettingsFromConfig(config: Config, deps: CertModeDeps = {}): AlipaySettings {
  const a = config.alipay;
  if (!a.appId || !a.appPrivateKey || !(a.alipayPublicKey || a.certFiles) || !a.gatewayUrl) {
    throw new ConfigError(['ALIPAY_GATEWAY, ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY (or the three ALIPAY_*_CERT_FILE settings) must all be set to use a real Alipay gateway']);
  }
  if (a.certFiles) {
    let appPrivateKey: KeyObject;
    try {
      appPrivateKey = loadPrivateKey(a.appPrivateKey, 'ALIPAY_APP_PRIVATE_KEY');
    } catch (err) {
      throw new ConfigError([errorText(err)]);
    }
    const cert = certModeFromFiles(a.certFiles, appPrivateKey, deps);
    return {
      appId: a.appId,
      sellerId: a.sellerId,
      gatewayUrl: a.gatewayUrl,
      signType: a.signType,
      appPrivateKey,
      alipayPublicKey: cert.alipayPublicKey,
      pagePayMethod: a.pagePayMethod,
      certificates: cert.certificates,
    };
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
  const alipayPublicKey = attempt(() => loadPublicKey(a.alipayPublicKey ?? '', 'ALIPAY_PUBLIC_KEY'));
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
  if (config.alipay.gatewayUrl || config.alipay.appId) {
    const settings = alipaySettingsFromConfig(config, { store: createAlipayCertStore(db), logger });
    await settings.certificates?.keyring.preload();
    return { settings };
  }
  if (config.env === 'production' && !config.alipay.sandboxInProduction) {
    throw new ConfigError([
      'NODE_ENV=production but no Alipay gateway is configured: set ALIPAY_GATEWAY, ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY ' +
        '(or set ALIPAY_SANDBOX_IN_PRODUCTION=true to run on the built-in sandbox gateway, which takes no real money)',
    ]);
  }
  if (config.envDefaulted) logger.warn('NODE_ENV is not set: running in development mode with the built-in Alipay sandbox (set NODE_ENV=production and ALIPAY_* for real payments)');
  const { sandbox, keys, certMode } = await createBuiltInSandbox(config, db, logger);
  logger.warn({ gateway: `${config.publicBaseUrl}${sandbox.gatewayPath}`, appId: keys.appId, certMode: Boolean(certMode) }, 'using the built-in Alipay sandbox gateway: no real money');
  // Certificate mode reads the generated files through the same checks as a real configuration.
  const cert = certMode && certModeFromFiles(certMode.files, keys.appPrivateKey, { store: createAlipayCertStore(db), logger });
  await cert?.certificates.keyring.preload();
  return {
    sandbox,
    settings: {
      ...(cert && { certificates: cert.certificates }),
      appId: keys.appId,
      sellerId: keys.sellerId,
      gatewayUrl: `${config.publicBaseUrl}${sandbox.gatewayPath}`,
      signType: config.alipay.signType,
      appPrivateKey: keys.appPrivateKey,
      alipayPublicKey: cert ? cert.alipayPublicKey : keys.alipayPublicKey,
      pagePayMethod: config.alipay.pagePayMethod,
    },
  };
}

/** The built-in sandbox gateway as configured (keys in DATA_DIR/keys), for the app and `npm run sandbox`. */
export async function createBuiltInSandbox(config: Config, db: Db, logger: Logger) {
  const keysDir = path.join(config.dataDir, 'keys');
  const keys = await ensureSandboxKeys(keysDir);
  const certMode = config.sandboxCertMode ? await ensureSandboxCertMode(keysDir, keys) : undefined;
  const sandbox = createSandboxGateway({
    db,
    ...gatewayKeyOptions(keys),
    ...(certMode && { certMode: certMode.state }),
    basePath: SANDBOX_BASE_PATH,
    timeScale: config.sandboxTimeScale,
    billToday: config.sandboxBillToday,
    logger: logger.child({ component: 'sandbox' }),
    access: await sandboxAccess(config, logger),
  });
  return { sandbox, keys, certMode };
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
 * Loopback only by default. SANDBOX_PUBLIC=true (a shared demo) puts the console behind
 * SANDBOX_PASSWORD, or one generated once into DATA_DIR/sandbox-password and shown in the log.
 */
export async function sandboxAccess(config: Config, logger: Logger): Promise<{ public: boolean; password?: string; hosts?: string[] }> {
  if (!config.sandbox.public) {
    logger.info('the built-in sandbox answers only requests from this machine (set SANDBOX_PUBLIC=true to share a demo)');
    return { public: false, hosts: [new URL(config.publicBaseUrl).hostname] };
  }
  let password = config.sandbox.password;
  const file = path.join(config.dataDir, 'sandbox-password');
  if (!password && existsSync(file)) password = (await readFile(file, 'utf8')).trim();
  if (!password) {
    await mkdir(config.dataDir, { recursive: true });
    password = randomBytes(18).toString('base64url');
    await writeFile(file, password, { mode: 0o600, flag: 'wx' });
  }
  logger.warn({ password: config.sandbox.password ? '(SANDBOX_PASSWORD)' : password }, 'SANDBOX_PUBLIC=true: the sandbox console needs the sandbox password (any user name); cashier links stay open to whoever holds them');
  return { public: true, password };
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
