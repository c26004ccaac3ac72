import { type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateRsaKeyPair, loadPrivateKey, loadPublicKey, privateKeyToPem, publicKeyToPem } from '../alipay/index.js';
import { randomDigits } from '../lib/random-digits.js';

export interface SandboxKeyFiles {
  dir: string;
  /** sandbox.json: { appId, sellerId } */
  config: string;
  appPrivateKey: string;
  appPublicKey: string;
  alipayPrivateKey: string;
  alipayPublicKey: string;
}

export interface SandboxKeys {
  appId: string;
  sellerId: string;
  /** The shop signs its requests with this key (as with a real Alipay app). */
  appPrivateKey: KeyObject;
  /** The gateway verifies requests with this key. */
  appPublicKey: KeyObject;
  /** The gateway ("Alipay") signs notifications, returns and responses with this key. */
  alipayPrivateKey: KeyObject;
  /** The shop verifies Alipay with this key. */
  alipayPublicKey: KeyObject;
  files: SandboxKeyFiles;
}

/** A 16-digit app id like the sandbox console hands out (2021000…). */
export function generateAppId(): string {
  return '2021000' + randomDigits(9);
}

/** A 16-digit Alipay user id ("PID"): 2088 + 12 digits. */
export function generateAlipayUserId(): string {
  return '2088' + randomDigits(12);
}

function keyFiles(dir: string): SandboxKeyFiles {
  return {
    dir,
    config: path.join(dir, 'sandbox.json'),
    appPrivateKey: path.join(dir, 'app_private_key.pem'),
    appPublicKey: path.join(dir, 'app_public_key.pem'),
    alipayPrivateKey: path.join(dir, 'alipay_private_key.pem'),
    alipayPublicKey: path.join(dir, 'alipay_public_key.pem'),
  };
}

async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, file);
}

/**
 * Generates (first call) or loads (later calls) the sandbox's identities: the app key pair the
 * shop signs with, the gateway's own "Alipay" key pair, an app_id and a seller_id. sandbox.json is
 * written last, so a half-finished first run is simply redone.
 */
export async function ensureSandboxKeys(dir: string): Promise<SandboxKeys> {
  const files = keyFiles(dir);
  if (!existsSync(files.config)) {
    await mkdir(dir, { recursive: true });
    const app = generateRsaKeyPair();
    const alipay = generateRsaKeyPair();
    await writeAtomically(files.appPrivateKey, privateKeyToPem(app.privateKey), 0o600);
    await writeAtomically(files.appPublicKey, publicKeyToPem(app.publicKey), 0o644);
    await writeAtomically(files.alipayPrivateKey, privateKeyToPem(alipay.privateKey), 0o600);
    await writeAtomically(files.alipayPublicKey, publicKeyToPem(alipay.publicKey), 0o644);
    const config = { appId: generateAppId(), sellerId: generateAlipayUserId() };
    await writeAtomically(files.config, JSON.stringify(config, null, 2) + '\n', 0o644);
  }
  const config = JSON.parse(await readFile(files.config, 'utf8')) as { appId?: unknown; sellerId?: unknown };
  if (typeof config.appId !== 'string' || !/^\d{16}$/.test(config.appId)) {
    throw new Error(`${files.config}: "appId" must be 16 digits`);
  }
  if (typeof config.sellerId !== 'string' || !/^2088\d{12}$/.test(config.sellerId)) {
    throw new Error(`${files.config}: "sellerId" must be 2088 followed by 12 digits`);
  }
  return {
    appId: config.appId,
    sellerId: config.sellerId,
    appPrivateKey: loadPrivateKey(await readFile(files.appPrivateKey, 'utf8'), files.appPrivateKey),
    appPublicKey: loadPublicKey(await readFile(files.appPublicKey, 'utf8'), files.appPublicKey),
    alipayPrivateKey: loadPrivateKey(await readFile(files.alipayPrivateKey, 'utf8'), files.alipayPrivateKey),
    alipayPublicKey: loadPublicKey(await readFile(files.alipayPublicKey, 'utf8'), files.alipayPublicKey),
    files,
  };
}

/** The gateway's part of the keys, as createSandboxGateway takes them. */
export function gatewayKeyOptions(keys: SandboxKeys) {
  return {
    appId: keys.appId,
    sellerId: keys.sellerId,
    appPublicKey: keys.appPublicKey,
    alipayPrivateKey: keys.alipayPrivateKey,
    alipayPublicKey: keys.alipayPublicKey,
  };
}
