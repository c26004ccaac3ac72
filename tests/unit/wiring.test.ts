import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { publicKeyToBase64 } from '../../src/alipay/index.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import type { Db } from '../../src/db/client.js';
import { createLogger } from '../../src/logger.js';
import { alipaySettingsFromConfig, resolveSessionSecret, setUpPayments } from '../../src/wiring.js';

const app = generateKeyPairSync('rsa', { modulusLength: 2048 });
const alipay = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: typeof app.privateKey) => k.export({ type: 'pkcs8', format: 'pem' }).toString();
const logger = createLogger('silent');
const noDb = {} as Db;

const real = {
  ALIPAY_GATEWAY: 'https://openapi.alipay.com/gateway.do',
  ALIPAY_APP_ID: '2021000122671234',
  ALIPAY_APP_PRIVATE_KEY: pem(app.privateKey),
  ALIPAY_PUBLIC_KEY: publicKeyToBase64(alipay.publicKey),
};

async function configError(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('choosing the payment gateway', () => {
  it('uses a configured real gateway with its keys parsed once', async () => {
    const setup = await setUpPayments(loadConfig({ ...real, NODE_ENV: 'production', ALIPAY_SELLER_ID: '2088123456789012', PUBLIC_BASE_URL: 'https://shop.example.com', SESSION_SECRET: 'x'.repeat(32) }), noDb, logger);
    expect(setup.sandbox).toBeUndefined();
    expect(setup.settings.gatewayUrl).toBe(real.ALIPAY_GATEWAY);
    expect(setup.settings.appPrivateKey.type).toBe('private');
    expect(setup.settings.alipayPublicKey.type).toBe('public');
  });

  it('refuses to start in production without real Alipay settings, saying what to set', async () => {
    const message = await configError(() => setUpPayments(loadConfig({ NODE_ENV: 'production', DATA_DIR: os.tmpdir() }), noDb, logger));
    expect(message).toMatch(/NODE_ENV=production but no Alipay gateway is configured/);
    expect(message).toMatch(/ALIPAY_SANDBOX_IN_PRODUCTION=true/);
  });

  it('runs the built-in sandbox in production only when the operator opts in', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'wiring-'));
    const setup = await setUpPayments(loadConfig({ NODE_ENV: 'production', ALIPAY_SANDBOX_IN_PRODUCTION: 'true', DATA_DIR: dataDir }), noDb, logger);
    expect(setup.sandbox).toBeDefined();
    expect(setup.settings.gatewayUrl).toBe('http://localhost:3000/sandbox/gateway.do');
  });

  it('with nothing configured, generates sandbox keys into DATA_DIR/keys and reuses them', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'wiring-'));
    const first = await setUpPayments(loadConfig({ DATA_DIR: dataDir }), noDb, logger);
    expect((await readdir(path.join(dataDir, 'keys'))).length).toBeGreaterThan(0);
    const second = await setUpPayments(loadConfig({ DATA_DIR: dataDir }), noDb, logger);
    expect(second.settings.appId).toBe(first.settings.appId);
    expect(publicKeyToBase64(second.settings.alipayPublicKey)).toBe(publicKeyToBase64(first.settings.alipayPublicKey));
  });

  it('names the setting when a key is wrong, and catches the app-public-key mistake', async () => {
    const swapped = await configError(async () => alipaySettingsFromConfig(loadConfig({ ...real, ALIPAY_PUBLIC_KEY: publicKeyToBase64(app.publicKey) })));
    expect(swapped).toMatch(/ALIPAY_PUBLIC_KEY/);
    expect(swapped).toMatch(/app's own public key/i);
    const garbage = await configError(async () => alipaySettingsFromConfig(loadConfig({ ...real, ALIPAY_APP_PRIVATE_KEY: 'not a key', ALIPAY_PUBLIC_KEY: 'neither' })));
    expect(garbage).toMatch(/ALIPAY_APP_PRIVATE_KEY/);
    expect(garbage).toMatch(/ALIPAY_PUBLIC_KEY/);
  });
});

describe('the session secret', () => {
  it('is required in production', async () => {
    expect(await configError(() => resolveSessionSecret(loadConfig({ NODE_ENV: 'production' })))).toMatch(/SESSION_SECRET must be set/);
  });

  it('is generated once into DATA_DIR otherwise', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'wiring-'));
    const config = loadConfig({ DATA_DIR: dataDir });
    const secret = await resolveSessionSecret(config);
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(await resolveSessionSecret(config)).toBe(secret);
  });
});
