import { readFileSync } from 'node:fs';
import type { KeyObject, X509Certificate } from 'node:crypto';
import {
  AlipayKeyError,
  assertDistinctKeys,
  certificateSn,
  checkCertificateMatchesKey,
  checkValidity,
  createAlipayCertKeyring,
  parseCertificates,
  rootCertSn,
  trustAlipayCertificate,
  validTo,
  type AlipayCertKeyring,
  type AlipayCertStore,
  type CertLogger,
  type CertSns,
} from '../alipay/index.js';
import { errorText } from '../lib/error-text.js';

export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface CertModeFiles {
  appCert: string;
  alipayCert: string;
  rootCert: string;
}

export interface CertModeSetup {
  certificates: CertSns & { keyring: AlipayCertKeyring };
  /** The configured Alipay certificate's key (notifications, and responses it signed). */
  alipayPublicKey: KeyObject;
  alipayCertSn: string;
  /** Certificates expiring within 30 days: log them at startup. */
  warnings: string[];
}

/** Thrown with every problem found, each naming the setting. */
export class CertModeError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'CertModeError';
  }
}

function readCertificates(file: string, setting: string, problems: string[]): { text: string; certs: X509Certificate[] } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`${setting}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? errorText(err)})`);
    return undefined;
  }
  try {
    return { text, certs: parseCertificates(text, `${setting} (${file})`) };
  } catch (err) {
    problems.push(errorText(err));
    return undefined;
  }
}

function expiryWarning(cert: X509Certificate, setting: string, now: Date): string | undefined {
  const end = validTo(cert);
  const days = Math.floor((end.getTime() - now.getTime()) / DAY_MS);
  if (days >= EXPIRY_WARNING_DAYS) return undefined;
  return `${setting}: the certificate expires on ${end.toISOString()} (in ${days} days); renew it in the Alipay console before then`;
}

/**
 * Certificate mode at startup: reads the three files and checks that the app certificate holds
 * the app private key's public key, every certificate is parseable and valid now (warns within
 * 30 days of expiry) and the Alipay certificate chains to the root bundle; computes app_cert_sn
 * and alipay_root_cert_sn once.
 */
export function loadCertMode(
  files: CertModeFiles,
  appPrivateKey: KeyObject | undefined,
  opts: { store?: AlipayCertStore; logger?: CertLogger; now?: () => Date } = {},
): CertModeSetup {
  const now = (opts.now ?? (() => new Date()))();
  const problems: string[] = [];
  const warnings: string[] = [];
  const app = readCertificates(files.appCert, 'ALIPAY_APP_CERT_FILE', problems);
  const alipay = readCertificates(files.alipayCert, 'ALIPAY_CERT_FILE', problems);
  const root = readCertificates(files.rootCert, 'ALIPAY_ROOT_CERT_FILE', problems);

  let appCertSn: string | undefined;
  if (app) {
    const leaf = app.certs[0] as X509Certificate;
    appCertSn = certificateSn(leaf);
    try {
      if (appPrivateKey) checkCertificateMatchesKey(leaf, appPrivateKey, `ALIPAY_APP_CERT_FILE (${files.appCert})`);
      checkValidity(leaf, now, `ALIPAY_APP_CERT_FILE (${files.appCert})`);
      const warning = expiryWarning(leaf, 'ALIPAY_APP_CERT_FILE', now);
      if (warning) warnings.push(warning);
    } catch (err) {
      problems.push(errorText(err));
    }
  }
  let alipayRootCertSn: string | undefined;
  if (root) {
    const { sn } = rootCertSn(root.certs);
    if (sn === '') problems.push(`ALIPAY_ROOT_CERT_FILE (${files.rootCert}) holds no RSA certificate: it is not Alipay's alipayRootCert.crt`);
    else alipayRootCertSn = sn;
  }
  let current: ReturnType<typeof trustAlipayCertificate> | undefined;
  if (alipay && root) {
    try {
      current = trustAlipayCertificate(alipay.text, root.certs, now, `ALIPAY_CERT_FILE (${files.alipayCert})`);
      if (appPrivateKey) assertDistinctKeys(appPrivateKey, current.publicKey, 'ALIPAY_CERT_FILE');
      const warning = expiryWarning(alipay.certs[0] as X509Certificate, 'ALIPAY_CERT_FILE', now);
      if (warning) warnings.push(warning);
    } catch (err) {
      problems.push(
        err instanceof AlipayKeyError
          ? 'ALIPAY_CERT_FILE is your app certificate (appCertPublicKey_<appid>.crt); it must be alipayCertPublicKey_RSA2.crt'
          : errorText(err),
      );
    }
  }
  if (problems.length || !current || appCertSn === undefined || alipayRootCertSn === undefined) throw new CertModeError(problems);
  const keyringOpts: Parameters<typeof createAlipayCertKeyring>[0] = { current, rootBundle: root?.certs ?? [] };
  if (opts.store) keyringOpts.store = opts.store;
  if (opts.logger) keyringOpts.logger = opts.logger;
  if (opts.now) keyringOpts.now = opts.now;
  return {
    certificates: { appCertSn, alipayRootCertSn, keyring: createAlipayCertKeyring(keyringOpts) },
    alipayPublicKey: current.publicKey,
    alipayCertSn: current.sn,
    warnings,
  };
}
