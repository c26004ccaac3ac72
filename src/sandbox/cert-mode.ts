import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Request, Response } from 'express';
import {
  certificateSn,
  generateRsaKeyPair,
  parseCertificates,
  privateKeyToPem,
  rootCertSn,
  type CertSns,
} from '../alipay/index.js';
import { generateSandboxCa, loadSandboxCa, type CaMaterial, type SandboxCa } from './ca.js';
import type { SandboxKeys } from './keys.js';
import { GatewayError, businessError, missingParameter, successBody } from './protocol.js';

// Public-key certificate mode of the sandbox gateway: it is Alipay's CA (ca.ts), checks the SNs
// every request carries, signs responses with alipay_cert_sn, serves
// alipay.open.app.alipaycert.download, and rotates its Alipay certificate from the console.

export { CERT_DOWNLOAD_METHOD } from '../alipay/index.js';

/** Alipay's file names, as the open platform console hands them out. */
export function certFileNames(appId: string) {
  return {
    appCert: `appCertPublicKey_${appId}.crt`,
    alipayCert: 'alipayCertPublicKey_RSA2.crt',
    rootCert: 'alipayRootCert.crt',
  };
}

interface IssuedAlipayCert {
  sn: string;
  pem: string;
  privateKey: KeyObject;
}

export interface SandboxCertMode extends CertSns {
  /** The Alipay certificate the gateway signs with now (changes on rotation). */
  current(): { sn: string; privateKey: KeyObject; publicKey: KeyObject; pem: string };
  /** alipay_cert_content for an SN the gateway issued (old ones too), PEM. */
  certificateContent(sn: string): string | undefined;
  rootBundlePem: string;
  appCertPem: string;
  /** Issues a new Alipay certificate with a new key pair; responses and notifications use it from now on. */
  rotate(): Promise<{ sn: string }>;
}

export interface CertModeOptions {
  ca: SandboxCa;
  appCertPem: string;
  /** Issued Alipay certificates, oldest first; the last one is current. */
  alipayCerts: IssuedAlipayCert[];
  /** Called after a rotation with every issued certificate (to keep them across restarts). */
  persist?: (certs: IssuedAlipayCert[]) => Promise<void>;
}

export function createSandboxCertMode(opts: CertModeOptions): SandboxCertMode {
  const certs = [...opts.alipayCerts];
  if (certs.length === 0) throw new Error('sandbox certificate mode needs an Alipay certificate');
  const roots = parseCertificates(opts.ca.rootBundlePem, 'sandbox root bundle');
  const appLeaf = parseCertificates(opts.appCertPem, 'sandbox app certificate')[0];
  if (appLeaf === undefined) throw new Error('sandbox app certificate missing');
  const latest = () => certs[certs.length - 1] as IssuedAlipayCert;
  return {
    appCertSn: certificateSn(appLeaf),
    alipayRootCertSn: rootCertSn(roots).sn,
    rootBundlePem: opts.ca.rootBundlePem,
    appCertPem: opts.appCertPem,
    current() {
      const c = latest();
      return { sn: c.sn, privateKey: c.privateKey, publicKey: createPublicKey(c.privateKey), pem: c.pem };
    },
    certificateContent(sn) {
      return certs.find((c) => c.sn === sn)?.pem;
    },
    async rotate() {
      const issued = await issueAlipayCert(opts.ca);
      certs.push(issued);
      await opts.persist?.(certs);
      return { sn: issued.sn };
    },
  };
}

async function issueAlipayCert(ca: SandboxCa, privateKey?: KeyObject): Promise<IssuedAlipayCert> {
  const key = privateKey ?? generateRsaKeyPair().privateKey;
  const pem = await ca.issue({ commonName: 'Alipay Sandbox Gateway', publicKey: createPublicKey(key) });
  const leaf = parseCertificates(pem, 'issued Alipay certificate')[0];
  if (leaf === undefined) throw new Error('the CA issued no certificate');
  return { sn: certificateSn(leaf), pem, privateKey: key };
}

/** Gateway check: both SNs must be sent (they are signed) and be the ones this gateway issued. */
export function checkCertSns(params: Record<string, string>, mode: SandboxCertMode): void {
  const appCertSn = params['app_cert_sn'];
  const rootSn = params['alipay_root_cert_sn'];
  if (!appCertSn) throw new GatewayError('40001', 'isv.missing-app-cert-sn', '缺少应用公钥证书序列号 (app_cert_sn is required in certificate mode)');
  if (appCertSn !== mode.appCertSn) {
    throw new GatewayError('40002', 'isv.invalid-app-cert-sn', `无效的应用公钥证书序列号 (app_cert_sn ${appCertSn} is not the SN of the app certificate issued for this app: ${mode.appCertSn})`);
  }
  if (!rootSn) throw new GatewayError('40001', 'isv.missing-alipay-root-cert-sn', '缺少支付宝根证书序列号 (alipay_root_cert_sn is required in certificate mode)');
  if (rootSn !== mode.alipayRootCertSn) {
    throw new GatewayError('40002', 'isv.invalid-alipay-root-cert-sn', `无效的支付宝根证书序列号 (alipay_root_cert_sn ${rootSn} is not the SN of alipayRootCert.crt: ${mode.alipayRootCertSn})`);
  }
}

/** alipay.open.app.alipaycert.download: alipay_cert_content = base64 of the certificate file. */
export function downloadAlipayCert(mode: SandboxCertMode | undefined, biz: Record<string, string>): Record<string, string> {
  if (!mode) throw businessError('isv.app-not-in-cert-mode', '应用未使用公钥证书模式 (this app uses public keys, not certificates)');
  const sn = biz['alipay_cert_sn'];
  if (!sn) throw missingParameter('alipay_cert_sn');
  const pem = mode.certificateContent(sn);
  if (pem === undefined) throw businessError('isv.alipay-cert-not-exist', `支付宝公钥证书不存在 (no Alipay certificate with SN ${sn})`);
  return successBody({ alipay_cert_content: Buffer.from(pem, 'utf8').toString('base64') });
}

/** What /sandbox/keys shows in certificate mode. */
export function certModeInfo(mode: SandboxCertMode) {
  return {
    app_cert_sn: mode.appCertSn,
    alipay_root_cert_sn: mode.alipayRootCertSn,
    alipay_cert_sn: mode.current().sn,
    alipay_cert: mode.current().pem,
    app_cert: mode.appCertPem,
    alipay_root_cert: mode.rootBundlePem,
  };
}

/** Console action: POST …/console/rotate-alipay-cert. */
export function createRotateHandler(mode: SandboxCertMode | undefined, basePath: string) {
  return async function rotate(_req: Request, res: Response): Promise<void> {
    if (mode) await mode.rotate();
    res.redirect(303, `${basePath}/keys`);
  };
}

async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, file);
}

interface StoredCert {
  sn: string;
  pem: string;
  privateKeyPem: string;
}

/**
 * The sandbox's certificate mode, generated on first start into `dir` (DATA_DIR/keys): the CA in
 * ca/, every Alipay certificate it issued in ca/alipay-certs.json, and the three files the shop
 * is configured with, under Alipay's names.
 */
export async function ensureSandboxCertMode(
  dir: string,
  keys: SandboxKeys,
): Promise<{ state: SandboxCertMode; files: { appCert: string; alipayCert: string; rootCert: string } }> {
  const caDir = path.join(dir, 'ca');
  const caFile = path.join(caDir, 'ca.json');
  const issuedFile = path.join(caDir, 'alipay-certs.json');
  const names = certFileNames(keys.appId);
  const files = {
    appCert: path.join(dir, names.appCert),
    alipayCert: path.join(dir, names.alipayCert),
    rootCert: path.join(dir, names.rootCert),
  };
  await mkdir(caDir, { recursive: true, mode: 0o700 });
  let ca: SandboxCa;
  if (existsSync(caFile)) {
    ca = await loadSandboxCa(JSON.parse(await readFile(caFile, 'utf8')) as CaMaterial);
  } else {
    ca = await generateSandboxCa();
    await writeAtomically(caFile, JSON.stringify(ca.material, null, 2) + '\n', 0o600);
  }
  await writeAtomically(files.rootCert, ca.rootBundlePem, 0o644);

  let issued: IssuedAlipayCert[] = [];
  if (existsSync(issuedFile)) {
    const stored = JSON.parse(await readFile(issuedFile, 'utf8')) as StoredCert[];
    issued = stored.map((s) => ({ sn: s.sn, pem: s.pem, privateKey: createPrivateKey(s.privateKeyPem) }));
  }
  const persist = (certs: IssuedAlipayCert[]) =>
    writeAtomically(issuedFile, JSON.stringify(certs.map((c) => ({ sn: c.sn, pem: c.pem, privateKeyPem: privateKeyToPem(c.privateKey) })), null, 2) + '\n', 0o600);
  if (issued.length === 0) {
    // The first Alipay certificate certifies the sandbox's existing "Alipay" key pair.
    issued = [await issueAlipayCert(ca, keys.alipayPrivateKey)];
    await persist(issued);
  }
  // alipayCertPublicKey_RSA2.crt stays the first certificate, as a merchant's download would:
  // after a rotation the shop learns the new one through alipay.open.app.alipaycert.download.
  if (!existsSync(files.alipayCert)) await writeAtomically(files.alipayCert, (issued[0] as IssuedAlipayCert).pem, 0o644);

  const appKeyDer = keys.appPublicKey.export({ type: 'spki', format: 'der' });
  const existingApp = existsSync(files.appCert) ? await readFile(files.appCert, 'utf8') : undefined;
  const appCertCurrent =
    existingApp !== undefined &&
    parseCertificates(existingApp, files.appCert)[0]?.publicKey.export({ type: 'spki', format: 'der' }).equals(appKeyDer) === true &&
    parseCertificates(existingApp, files.appCert)[0]?.checkIssued(parseCertificates(ca.material.intermediatePem, 'intermediate')[0]!) === true;
  const appCertPem = appCertCurrent
    ? existingApp
    : await ca.issue({ commonName: keys.appId, unit: keys.appId, publicKey: keys.appPublicKey });
  if (!appCertCurrent) await writeAtomically(files.appCert, appCertPem, 0o644);

  return { state: createSandboxCertMode({ ca, appCertPem, alipayCerts: issued, persist }), files };
}

/** `npm run sandbox -- cert-mode --out <dir>`: the files another integration needs, plus the app private key. */
export async function exportCertModeFiles(
  keysDir: string,
  keys: SandboxKeys,
  outDir: string,
): Promise<{ appPrivateKey: string; appCert: string; alipayCert: string; rootCert: string }> {
  const { files } = await ensureSandboxCertMode(keysDir, keys);
  await mkdir(outDir, { recursive: true });
  const names = certFileNames(keys.appId);
  const out = {
    appPrivateKey: path.resolve(outDir, 'app_private_key.pem'),
    appCert: path.resolve(outDir, names.appCert),
    alipayCert: path.resolve(outDir, names.alipayCert),
    rootCert: path.resolve(outDir, names.rootCert),
  };
  await writeFile(out.appPrivateKey, privateKeyToPem(keys.appPrivateKey), { mode: 0o600 });
  await copyFile(files.appCert, out.appCert);
  await copyFile(files.alipayCert, out.alipayCert);
  await copyFile(files.rootCert, out.rootCert);
  return out;
}
