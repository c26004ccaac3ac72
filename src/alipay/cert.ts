import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { AlipayCertError } from './errors.js';

// Public-key certificate mode (公钥证书): the rules are in alipay-protocol.md, "Public-key certificate mode".

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
const RSA_SIGNATURE_OID_PREFIX = '1.2.840.113549.1.1.';
const MAX_CHAIN_LENGTH = 6;

/**
 * Every certificate in a PEM text, in order. Accepts the variants people end up with: CRLF line
 * ends, the whole PEM squeezed onto one line (with or without spaces), literal `\n` from .env files.
 */
export function parseCertificates(text: string, what: string): X509Certificate[] {
  const unescaped = text.replace(/\\r\\n|\\n|\\r/g, '\n');
  const certs: X509Certificate[] = [];
  for (const match of unescaped.matchAll(PEM_CERT_RE)) {
    const body = (match[1] ?? '').replace(/\s+/g, '');
    const pem = `-----BEGIN CERTIFICATE-----\n${body.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
    try {
      certs.push(new X509Certificate(pem));
    } catch (err) {
      throw new AlipayCertError(`${what}: certificate #${certs.length + 1} is not a valid X.509 certificate (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
  }
  if (certs.length === 0) {
    throw new AlipayCertError(`${what}: no PEM certificate found (expected "-----BEGIN CERTIFICATE-----" … "-----END CERTIFICATE-----")`);
  }
  return certs;
}

/** PEM text of certificates, one after another (what a .crt file and alipay_cert_content hold). */
export function certificatesToPem(certs: readonly X509Certificate[]): string {
  return certs.map((c) => c.toString()).join('');
}

/** Undoes RFC 2253 escaping, which node applies to each DN value (`\,`, `\+`, `\"`, `\\`, `\XX`). */
function unescapeDnValue(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && i + 1 < text.length) {
      const hex = text.slice(i + 1, i + 3);
      if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
        bytes.push(Number.parseInt(hex, 16));
        i += 2;
        continue;
      }
      i++;
      bytes.push(...Buffer.from(text[i] as string, 'utf8'));
      continue;
    }
    bytes.push(...Buffer.from(c, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * The issuer DN the way Alipay's SDKs write it: attributes from the most specific to the least,
 * `SHORTNAME=value` joined with `,`, no spaces. Node lists them one per line, least specific first.
 */
export function issuerName(cert: X509Certificate): string {
  // A multi-valued RDN is one line, its attributes separated by " + " (a literal + is escaped).
  return cert.issuer
    .split('\n')
    .filter((line) => line !== '')
    .flatMap((line) => line.split(/(?<!\\) \+ /))
    .reverse()
    .map((attribute) => {
      const eq = attribute.indexOf('=');
      return `${attribute.slice(0, eq)}=${unescapeDnValue(attribute.slice(eq + 1))}`;
    })
    .join(',');
}

/** A certificate's SN = lowercase hex MD5 of (issuer DN + serial number in decimal). */
export function certificateSn(cert: X509Certificate): string {
  const serial = BigInt(`0x${cert.serialNumber}`).toString(10);
  return createHash('md5').update(issuerName(cert) + serial, 'utf8').digest('hex');
}

interface DerSpan {
  tag: number;
  start: number;
  end: number;
}

function readDer(buf: Buffer, offset: number): DerSpan {
  const tag = buf[offset];
  let len = buf[offset + 1];
  if (tag === undefined || len === undefined) throw new AlipayCertError('truncated DER');
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new AlipayCertError('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] ?? 0);
    start += n;
  }
  if (start + len > buf.length) throw new AlipayCertError('truncated DER');
  return { tag, start, end: start + len };
}

function decodeOid(bytes: Buffer): string {
  const parts: number[] = [];
  let value = 0;
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** The OID of the certificate's signatureAlgorithm (Certificate ::= SEQUENCE { tbs, signatureAlgorithm, signature }). */
export function signatureAlgorithmOid(cert: X509Certificate): string {
  const der = cert.raw;
  const outer = readDer(der, 0);
  const tbs = readDer(der, outer.start);
  const algorithm = readDer(der, tbs.end);
  const oid = readDer(der, algorithm.start);
  if (outer.tag !== 0x30 || algorithm.tag !== 0x30 || oid.tag !== 0x06) {
    throw new AlipayCertError('certificate DER has an unexpected structure');
  }
  return decodeOid(der.subarray(oid.start, oid.end));
}

export interface RootCertSn {
  /** The SNs of the RSA-signed certificates joined with `_`: alipay_root_cert_sn. */
  sn: string;
  counted: Array<{ cert: X509Certificate; sn: string }>;
  skipped: Array<{ cert: X509Certificate; signatureOid: string }>;
}

/**
 * alipay_root_cert_sn: the SNs of the bundle's certificates whose signature algorithm is RSA-based
 * (OID 1.2.840.113549.1.1.*), in file order, joined with `_`; the others (SM2, ECDSA) are left out.
 */
export function rootCertSn(bundle: readonly X509Certificate[]): RootCertSn {
  const counted: RootCertSn['counted'] = [];
  const skipped: RootCertSn['skipped'] = [];
  for (const cert of bundle) {
    const signatureOid = signatureAlgorithmOid(cert);
    if (signatureOid.startsWith(RSA_SIGNATURE_OID_PREFIX)) counted.push({ cert, sn: certificateSn(cert) });
    else skipped.push({ cert, signatureOid });
  }
  return { sn: counted.map((c) => c.sn).join('_'), counted, skipped };
}

export function validFrom(cert: X509Certificate): Date {
  return new Date(cert.validFrom);
}

export function validTo(cert: X509Certificate): Date {
  return new Date(cert.validTo);
}

/** Throws when the certificate is not valid at `now` (not yet, or expired). */
export function checkValidity(cert: X509Certificate, now: Date, what: string): void {
  if (now.getTime() < validFrom(cert).getTime()) {
    throw new AlipayCertError(`${what} is not valid yet (valid from ${validFrom(cert).toISOString()})`);
  }
  if (now.getTime() > validTo(cert).getTime()) {
    throw new AlipayCertError(`${what} expired on ${validTo(cert).toISOString()}; download a new certificate from the Alipay console`);
  }
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  if (!cert.checkIssued(issuer)) return false;
  try {
    return cert.verify(issuer.publicKey);
  } catch {
    // An issuer whose key type node cannot use (e.g. SM2) cannot have signed it.
    return false;
  }
}

/**
 * Verifies that `chain[0]` chains to a certificate of the root bundle: each step's issuer (taken
 * from the rest of `chain` — the intermediates an alipayCertPublicKey file carries — or the bundle)
 * signed it, and every certificate on the way is valid at `now`. Throws AlipayCertError otherwise.
 */
export function verifyCertificateChain(
  chain: readonly X509Certificate[],
  rootBundle: readonly X509Certificate[],
  now: Date,
  what: string,
): void {
  const leaf = chain[0];
  if (leaf === undefined) throw new AlipayCertError(`${what}: no certificate`);
  const intermediates = chain.slice(1);
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN_LENGTH; depth++) {
    checkValidity(current, now, depth === 0 ? what : `${what}: issuing certificate "${current.subject.replace(/\n/g, ', ')}"`);
    const anchor = rootBundle.find((root) => signedBy(current, root));
    if (anchor !== undefined) {
      checkValidity(anchor, now, `root certificate "${anchor.subject.replace(/\n/g, ', ')}"`);
      return;
    }
    if (rootBundle.some((root) => root.fingerprint256 === current.fingerprint256)) return;
    const next = intermediates.find((c) => c !== current && signedBy(current, c));
    if (next === undefined) break;
    current = next;
  }
  throw new AlipayCertError(
    `${what} does not chain to the Alipay root certificate bundle (issuer "${issuerName(current)}" is neither in the bundle nor signed by it); it is not trusted`,
  );
}

/** Throws when the app certificate does not hold the public key of the app private key. */
export function checkCertificateMatchesKey(cert: X509Certificate, privateKey: KeyObject, what: string): void {
  let matches = false;
  try {
    matches = cert.checkPrivateKey(privateKey);
  } catch {
    matches = false;
  }
  if (!matches) {
    throw new AlipayCertError(
      `${what} does not match the app private key: its public key is not the one of ALIPAY_APP_PRIVATE_KEY. ` +
        'Use the appCertPublicKey_<appid>.crt issued for this private key (the CSR you uploaded was made from it).',
    );
  }
}

/** A certificate ready to verify Alipay's signatures with. */
export interface AlipayCertificate {
  sn: string;
  publicKey: KeyObject;
  validTo: Date;
  /** The certificate and the intermediates that came with it, as PEM. */
  pem: string;
}

/** Parses an Alipay certificate (chain) text, verifies it against the bundle, and keys it by SN. */
export function trustAlipayCertificate(
  pemText: string,
  rootBundle: readonly X509Certificate[],
  now: Date,
  what: string,
): AlipayCertificate {
  const chain = parseCertificates(pemText, what);
  verifyCertificateChain(chain, rootBundle, now, what);
  const leaf = chain[0] as X509Certificate;
  if (leaf.publicKey.asymmetricKeyType !== 'rsa') {
    throw new AlipayCertError(`${what} holds a ${leaf.publicKey.asymmetricKeyType ?? 'unknown'} key; RSA2 needs an RSA certificate (alipayCertPublicKey_RSA2.crt)`);
  }
  return { sn: certificateSn(leaf), publicKey: leaf.publicKey, validTo: validTo(leaf), pem: certificatesToPem(chain) };
}
