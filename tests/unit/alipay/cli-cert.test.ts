import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificateSn, parseCertificates, rootCertSn, signNotification } from '../../../src/alipay/index.js';
import { generateSandboxCa, type SandboxCa } from '../../../src/sandbox/ca.js';
import { buildNotification as buildTradeFields } from '../../support/notifications.js';
import { makeKeyPair, type KeyPair } from './factories.js';

const CLI = path.resolve('src/cli/alipay.ts');

function runCli(args: string[], input?: string) {
  const res = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', input });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

let dir: string;
let ca: SandboxCa;
let alipay: KeyPair;
let certFile: string;
let rootFile: string;
let certPem: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'alipay-cli-cert-'));
  ca = await generateSandboxCa();
  alipay = makeKeyPair();
  certPem = await ca.issue({ commonName: 'Alipay', publicKey: alipay.publicKey });
  certFile = path.join(dir, 'alipayCertPublicKey_RSA2.crt');
  rootFile = path.join(dir, 'alipayRootCert.crt');
  writeFileSync(certFile, certPem);
  writeFileSync(rootFile, ca.rootBundlePem.replace(/\n/g, '\r\n'));
}, 60_000);

describe('alipay CLI in certificate mode', { timeout: 90_000 }, () => {
  it('cert-sn prints the SN of a certificate', () => {
    const res = runCli(['cert-sn', certFile]);
    expect(res.status).toBe(0);
    expect(res.stdout).toContain(`SN:          ${certificateSn(parseCertificates(certPem, 'x')[0]!)}`);
  });

  it('cert-sn of a root bundle prints the root SN and which certificates counted', () => {
    const res = runCli(['cert-sn', rootFile]);
    expect(res.status).toBe(0);
    expect(res.stdout).toContain(`root SN:     ${rootCertSn(parseCertificates(ca.rootBundlePem, 'x')).sn}`);
    expect(res.stdout).toMatch(/#1 counted/);
    expect(res.stdout).toMatch(/#2 skipped {2}\(signature 1\.2\.840\.10045\.4\.3\.2, not RSA\)/);
  });

  it('cert-sn of a missing or non-certificate file → exit 2', () => {
    expect(runCli(['cert-sn', path.join(dir, 'missing.crt')]).status).toBe(2);
    const junk = path.join(dir, 'junk.crt');
    writeFileSync(junk, 'not a certificate');
    const res = runCli(['cert-sn', junk]);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain('no PEM certificate found');
  });

  it('verify-notify --alipay-cert verifies with the certificate key', () => {
    const body = signNotification(buildTradeFields(), alipay.privateKey);
    const ok = runCli(['verify-notify', '--alipay-cert', certFile, '-'], body);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('VALID');
    const other = signNotification(buildTradeFields(), makeKeyPair().privateKey);
    expect(runCli(['verify-notify', '--alipay-cert', certFile, '-'], other).status).toBe(1);
    expect(runCli(['verify-notify', '--alipay-cert', certFile, '--alipay-public-key', certFile, '-'], body).status).toBe(2);
  });
});
