import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { publicKeyToBase64, signString, verifySignature } from '../../../src/alipay/index.js';
import { ensureSandboxKeys } from '../../../src/sandbox/keys.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('ensureSandboxKeys', () => {
  it('generates two key pairs and ids once, private keys 0600, and loads the same ones later', async () => {
    const dir = path.join(await mkdtemp(path.join(os.tmpdir(), 'sbx-keys-')), 'keys');
    dirs.push(path.dirname(dir));
    const first = await ensureSandboxKeys(dir);
    expect(first.appId).toMatch(/^2021000\d{9}$/);
    expect(first.sellerId).toMatch(/^2088\d{12}$/);
    expect((await stat(first.files.appPrivateKey)).mode & 0o777).toBe(0o600);
    expect((await stat(first.files.alipayPrivateKey)).mode & 0o777).toBe(0o600);
    expect(publicKeyToBase64(first.appPublicKey)).not.toBe(publicKeyToBase64(first.alipayPublicKey));
    expect(verifySignature('x', signString('x', first.appPrivateKey, 'RSA2'), first.appPublicKey, 'RSA2')).toBe(true);
    expect(verifySignature('x', signString('x', first.alipayPrivateKey, 'RSA2'), first.alipayPublicKey, 'RSA2')).toBe(true);
    const second = await ensureSandboxKeys(dir);
    expect(second.appId).toBe(first.appId);
    expect(second.sellerId).toBe(first.sellerId);
    expect(publicKeyToBase64(second.alipayPublicKey)).toBe(publicKeyToBase64(first.alipayPublicKey));
  });
});
