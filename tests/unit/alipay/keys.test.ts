import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AlipayKeyError,
  assertDistinctKeys,
  generateRsaKeyPair,
  keyFingerprint,
  loadPrivateKey,
  loadPublicKey,
  privateKeyToPem,
  publicKeyToBase64,
  publicKeyToPem,
} from '../../../src/alipay/index.js';
import { makeKeyPair, type KeyPair } from './factories.js';

let app: KeyPair;
let alipay: KeyPair;
let dir: string;

beforeAll(() => {
  app = makeKeyPair();
  alipay = makeKeyPair();
  dir = mkdtempSync(path.join(tmpdir(), 'alipay-keys-'));
});

const bare = (pem: string): string => pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
const sameKey = (a: ReturnType<typeof loadPublicKey>, b: ReturnType<typeof loadPublicKey>): boolean =>
  publicKeyToBase64(a) === publicKeyToBase64(b);

describe('loadPrivateKey accepts every format Alipay users paste', () => {
  const formats: Array<[string, () => string]> = [
    ['PEM PKCS#8', () => app.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()],
    ['PEM PKCS#1', () => app.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()],
    ['one-line PEM', () => app.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().replace(/\n/g, '')],
    ['PEM with spaces for newlines', () => app.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString().replace(/\n/g, ' ')],
    ['bare base64 PKCS#8', () => bare(app.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())],
    ['bare base64 PKCS#1', () => bare(app.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString())],
    ['\\n-escaped .env text', () => JSON.stringify(app.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())],
    ['file path', () => {
      const file = path.join(dir, 'app_private_key.pem');
      writeFileSync(file, app.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      return file;
    }],
    ['file with bare base64', () => {
      const file = path.join(dir, 'app_private_key.txt');
      writeFileSync(file, `${bare(app.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())}\n`);
      return file;
    }],
  ];
  it.each(formats)('%s', (_name, make) => {
    const key = loadPrivateKey(make(), 'ALIPAY_APP_PRIVATE_KEY');
    expect(key.type).toBe('private');
    expect(sameKey(key, app.publicKey)).toBe(true);
  });
});

describe('loadPublicKey accepts every format', () => {
  const formats: Array<[string, () => string]> = [
    ['PEM SPKI', () => alipay.publicKey.export({ type: 'spki', format: 'pem' }).toString()],
    ['PEM PKCS#1', () => alipay.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString()],
    ['one-line PEM', () => alipay.publicKey.export({ type: 'spki', format: 'pem' }).toString().replace(/\n/g, '')],
    ['bare base64 SPKI', () => publicKeyToBase64(alipay.publicKey)],
    ['bare base64 PKCS#1', () => bare(alipay.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString())],
    ['\\n-escaped', () => alipay.publicKey.export({ type: 'spki', format: 'pem' }).toString().replace(/\n/g, '\\n')],
    ['file path', () => {
      const file = path.join(dir, 'alipay_public_key.pem');
      writeFileSync(file, publicKeyToPem(alipay.publicKey));
      return file;
    }],
  ];
  it.each(formats)('%s', (_name, make) => {
    const key = loadPublicKey(make(), 'ALIPAY_PUBLIC_KEY');
    expect(key.type).toBe('public');
    expect(sameKey(key, alipay.publicKey)).toBe(true);
  });
});

describe('key mistakes are rejected with the setting named', () => {
  it('rejects a 1024-bit key', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => loadPublicKey(publicKeyToPem(small.publicKey), 'ALIPAY_PUBLIC_KEY')).toThrow(
      /ALIPAY_PUBLIC_KEY: .*1024-bit/,
    );
    expect(() => loadPrivateKey(privateKeyToPem(small.privateKey), 'ALIPAY_APP_PRIVATE_KEY')).toThrow(AlipayKeyError);
  });

  it('rejects an EC key', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    expect(() => loadPrivateKey(privateKeyToPem(ec.privateKey), 'ALIPAY_APP_PRIVATE_KEY')).toThrow(/ALIPAY_APP_PRIVATE_KEY.*RSA/);
    expect(() => loadPublicKey(publicKeyToBase64(ec.publicKey), 'ALIPAY_PUBLIC_KEY')).toThrow(/ALIPAY_PUBLIC_KEY.*RSA/);
  });

  it('rejects a private key given as the Alipay public key', () => {
    const err = captureKeyError(() => loadPublicKey(privateKeyToPem(app.privateKey), 'ALIPAY_PUBLIC_KEY'));
    expect(err.setting).toBe('ALIPAY_PUBLIC_KEY');
    expect(err.message).toMatch(/^ALIPAY_PUBLIC_KEY contains a private key; it must be Alipay's public key/);
    // bare base64 too
    expect(() => loadPublicKey(bare(privateKeyToPem(app.privateKey)), 'ALIPAY_PUBLIC_KEY')).toThrow(/contains a private key/);
  });

  it('rejects a public key given as the app private key', () => {
    expect(() => loadPrivateKey(publicKeyToPem(app.publicKey), 'ALIPAY_APP_PRIVATE_KEY')).toThrow(
      /^ALIPAY_APP_PRIVATE_KEY contains a public key/,
    );
    expect(() => loadPrivateKey(publicKeyToBase64(app.publicKey), 'ALIPAY_APP_PRIVATE_KEY')).toThrow(/contains a public key/);
  });

  it('rejects garbage and missing files', () => {
    expect(() => loadPublicKey('', 'ALIPAY_PUBLIC_KEY')).toThrow(/ALIPAY_PUBLIC_KEY: is empty/);
    expect(() => loadPublicKey('keys/nope.pem', 'ALIPAY_PUBLIC_KEY')).toThrow(/ALIPAY_PUBLIC_KEY/);
    expect(() => loadPublicKey('-----BEGIN PUBLIC KEY-----AAAA-----END PUBLIC KEY-----', 'ALIPAY_PUBLIC_KEY')).toThrow(
      AlipayKeyError,
    );
  });

  it('explains the own-app-public-key mistake in plain words', () => {
    const ownPublic = loadPublicKey(publicKeyToBase64(app.publicKey), 'ALIPAY_PUBLIC_KEY');
    expect(() => assertDistinctKeys(app.privateKey, ownPublic)).toThrow(
      "ALIPAY_PUBLIC_KEY is your app's own public key (the one you uploaded to Alipay). Use the Alipay public key shown next to it in the Alipay console.",
    );
    expect(() => assertDistinctKeys(app.privateKey, alipay.publicKey)).not.toThrow();
  });
});

describe('key export helpers', () => {
  it('publicKeyToBase64 is one bare line that loads back', () => {
    const line = publicKeyToBase64(app.publicKey);
    expect(line).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(sameKey(loadPublicKey(line, 'X'), app.publicKey)).toBe(true);
  });

  it('fingerprints match for a private key and its public key', () => {
    expect(keyFingerprint(app.privateKey)).toBe(keyFingerprint(createPublicKey(app.privateKey)));
    expect(keyFingerprint(app.publicKey)).toMatch(/^SHA256:[0-9a-f]{32}$/);
    expect(keyFingerprint(app.publicKey)).not.toBe(keyFingerprint(alipay.publicKey));
  });

  it('generateRsaKeyPair makes a 2048-bit pair whose PKCS#8 PEM loads', () => {
    const pair = generateRsaKeyPair();
    expect(pair.privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const pem = privateKeyToPem(pair.privateKey);
    expect(pem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(sameKey(loadPrivateKey(pem, 'X'), pair.publicKey)).toBe(true);
  });
});

function captureKeyError(fn: () => unknown): AlipayKeyError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AlipayKeyError) return err;
    throw err;
  }
  throw new Error('expected an AlipayKeyError');
}
