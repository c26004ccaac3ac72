import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AlipayError } from '../alipay/errors.js';
import { formValueBytes, parseForm } from '../alipay/form.js';
import {
  generateRsaKeyPair,
  keyFingerprint,
  loadPrivateKey,
  loadPublicKey,
  privateKeyToPem,
  publicKeyToBase64,
  publicKeyToPem,
} from '../alipay/keys.js';
import { checkSignedForm, extractQueryString } from '../alipay/notification.js';
import { buildSignString, isSignType, signString } from '../alipay/sign.js';
import { certificateSn, issuerName, parseCertificates, rootCertSn, signatureAlgorithmOid, validTo } from '../alipay/cert.js';

const USAGE = `usage:
  alipay keygen [--out keys/]
  alipay verify-notify (--alipay-public-key <file> | --alipay-cert <file.crt>) [<file>|-]
  alipay cert-sn <file.crt>
  alipay sign --app-private-key <file> <params.json>`;

class UsageError extends Error {}

function parseArgs(argv: string[]): { flags: Map<string, string>; positional: string[] } {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      if (eq > 0) flags.set(arg.slice(2, eq), arg.slice(eq + 1));
      else {
        const value = argv[i + 1];
        if (value === undefined) throw new UsageError(`${arg} needs a value`);
        flags.set(arg.slice(2), value);
        i++;
      }
    } else positional.push(arg);
  }
  return { flags, positional };
}

function keygen(flags: Map<string, string>): number {
  const dir = flags.get('out') ?? 'keys/';
  const targets = {
    privatePem: path.join(dir, 'app_private_key.pem'),
    publicPem: path.join(dir, 'app_public_key.pem'),
    publicTxt: path.join(dir, 'app_public_key.txt'),
  };
  const existing = Object.values(targets).filter((p) => existsSync(p));
  if (existing.length > 0) {
    console.error(`refusing to overwrite existing key file(s): ${existing.join(', ')}`);
    return 2;
  }
  mkdirSync(dir, { recursive: true });
  const { privateKey, publicKey } = generateRsaKeyPair();
  const base64 = publicKeyToBase64(publicKey);
  writeFileSync(targets.privatePem, privateKeyToPem(privateKey), { mode: 0o600, flag: 'wx' });
  writeFileSync(targets.publicPem, publicKeyToPem(publicKey), { flag: 'wx' });
  writeFileSync(targets.publicTxt, `${base64}\n`, { flag: 'wx' });
  console.log(`app private key: ${targets.privatePem} (keep secret, never commit)`);
  console.log(`app public key:  ${targets.publicPem}`);
  console.log(`                 ${targets.publicTxt}`);
  console.log(`fingerprint:     ${keyFingerprint(publicKey)}`);
  console.log('');
  console.log('Paste this app public key into the Alipay console (接口加签方式 → 公钥):');
  console.log(base64);
  console.log('');
  console.log("Then copy the *Alipay public key* the console shows into keys/alipay_public_key.pem.");
  return 0;
}

function readInput(source: string | undefined): Buffer {
  if (source === undefined || source === '-') return readFileSync(0);
  if (!existsSync(source)) throw new UsageError(`no such file: ${source}`);
  return readFileSync(source);
}

function isValidUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function readFileArg(file: string | undefined, what: string): string {
  if (file === undefined) throw new UsageError(`${what} is required`);
  if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
  return readFileSync(file, 'utf8');
}

/** SN of a certificate file; for several certificates also the root SN and which ones counted. */
function certSn(positional: string[]): number {
  const file = positional[0];
  const certs = parseCertificates(readFileArg(file, 'a certificate file'), file ?? '');
  const first = certs[0];
  if (first === undefined) throw new UsageError('no certificate');
  console.log(`SN:          ${certificateSn(first)}   (app_cert_sn for appCertPublicKey_*.crt, alipay_cert_sn for alipayCertPublicKey_RSA2.crt)`);
  console.log(`subject:     ${first.subject.split('\n').reverse().join(',')}`);
  console.log(`issuer:      ${issuerName(first)}`);
  console.log(`serial:      ${BigInt(`0x${first.serialNumber}`).toString(10)}`);
  console.log(`valid until: ${validTo(first).toISOString()}`);
  if (certs.length > 1) {
    const root = rootCertSn(certs);
    console.log('');
    console.log(`${certs.length} certificates; as a root bundle (alipayRootCert.crt), only RSA-signed ones count:`);
    for (const [i, cert] of certs.entries()) {
      const counted = root.counted.find((c) => c.cert === cert);
      const oid = signatureAlgorithmOid(cert);
      console.log(`  #${i + 1} ${counted ? `counted  ${counted.sn}` : `skipped  (signature ${oid}, not RSA)`}  ${cert.subject.split('\n').reverse().join(',')}`);
    }
    console.log(`root SN:     ${root.sn}   (alipay_root_cert_sn)`);
  }
  return 0;
}

function verifyNotify(flags: Map<string, string>, positional: string[]): number {
  const keyFile = flags.get('alipay-public-key');
  const certFile = flags.get('alipay-cert');
  if (keyFile !== undefined && certFile !== undefined) throw new UsageError('give --alipay-public-key or --alipay-cert, not both');
  let key;
  if (certFile !== undefined) {
    const cert = parseCertificates(readFileArg(certFile, '--alipay-cert <file>'), '--alipay-cert')[0];
    if (cert === undefined) throw new UsageError('no certificate');
    key = cert.publicKey;
    console.log(`certificate: ${certificateSn(cert)} (alipay_cert_sn), valid until ${validTo(cert).toISOString()}`);
  } else {
    if (keyFile === undefined) throw new UsageError('--alipay-public-key <file> or --alipay-cert <file.crt> is required');
    if (!existsSync(keyFile)) throw new UsageError(`no such key file: ${keyFile}`);
    key = loadPublicKey(readFileSync(keyFile, 'utf8'), '--alipay-public-key');
  }
  let raw = readInput(positional[0]);
  // Files usually end with a newline that is not part of the body.
  let text = raw.toString('latin1').replace(/[\r\n]+$/, '');
  const q = text.indexOf('?');
  if (/^\s*https?:\/\//i.test(text) || (q >= 0 && !text.slice(0, q).includes('='))) {
    text = extractQueryString(text);
  }
  raw = Buffer.from(text, 'latin1');
  const form = parseForm(raw);
  const isTrade = form.fields['notify_type'] === 'trade_status_sync' || form.fields['method']?.endsWith('.return');
  const check = checkSignedForm(form, key, { allowSignTypeIncluded: !isTrade });
  console.log(`charset:     ${check.charset}`);
  console.log(`sign_type:   ${check.signType}`);
  console.log(`excluded:    ${check.excluded.join(', ')}`);
  console.log(`key:         ${keyFingerprint(key)}`);
  console.log('string verified:');
  console.log(check.signString);
  if (check.valid) {
    console.log('VALID');
    return 0;
  }
  console.log('INVALID');
  console.log('likely causes:');
  console.log(
    `  - if this is your app public key (the one you uploaded to Alipay, ${keyFingerprint(key)}), ` +
      'use the Alipay public key shown next to it in the Alipay console instead',
  );
  const values = Object.entries(form.fields).filter(([k]) => k !== 'sign');
  if (values.some(([, v]) => v.includes('&quot;'))) {
    console.log('  - a value contains "&quot;": something on our side HTML-escaped it (e.g. fund_bill_list); Alipay sends real quotes');
  }
  if (values.some(([, v]) => /%[0-9A-Fa-f]{2}/.test(v))) {
    console.log('  - a decoded value still contains %XX: the body was URL-encoded twice, or will be decoded twice; decode exactly once');
  }
  const valueBytes = Buffer.concat(form.keys.map((k) => formValueBytes(form, k)));
  const nonAscii = valueBytes.some((b) => b > 0x7f);
  if (nonAscii && check.charset === 'utf-8' && !isValidUtf8(valueBytes)) {
    console.log('  - charset says utf-8 but the bytes are not UTF-8 (GBK body?)');
  }
  if (nonAscii && check.charset !== 'utf-8' && isValidUtf8(valueBytes)) {
    console.log(`  - charset says ${check.charset} but the bytes look like UTF-8`);
  }
  if (values.some(([, v]) => v.includes('+'))) {
    console.log('  - a value contains "+": if the original had a space, "+" was not form-decoded (or a literal "+" was not encoded as %2B)');
  }
  if (values.some(([, v]) => v.includes(' ')) && !text.includes('+') && !text.includes('%20')) {
    console.log('  - a value contains a space that was not encoded in the input: was the body decoded before being saved?');
  }
  return 1;
}

function sign(flags: Map<string, string>, positional: string[]): number {
  const keyFile = flags.get('app-private-key');
  if (keyFile === undefined) throw new UsageError('--app-private-key <file> is required');
  if (!existsSync(keyFile)) throw new UsageError(`no such key file: ${keyFile}`);
  const paramsFile = positional[0];
  if (paramsFile === undefined) throw new UsageError('a params JSON file is required');
  const key = loadPrivateKey(readFileSync(keyFile, 'utf8'), '--app-private-key');
  let params: unknown;
  try {
    params = JSON.parse(readInput(paramsFile).toString('utf8'));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${paramsFile} is not JSON: ${(err as Error).message}`);
  }
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new UsageError('params must be a JSON object');
  }
  const entries = Object.entries(params as Record<string, unknown>);
  const bad = entries.find(([, v]) => typeof v !== 'string');
  if (bad) throw new UsageError(`param "${bad[0]}" must be a string (biz_content too: the exact JSON text)`);
  const strings = Object.fromEntries(entries) as Record<string, string>;
  const declared = strings['sign_type'];
  const signType = isSignType(declared) ? declared : 'RSA2';
  const content = buildSignString(strings);
  console.log(content);
  console.log(`sign=${signString(content, key, signType)}`);
  return 0;
}

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  try {
    const { flags, positional } = parseArgs(rest);
    switch (command) {
      case 'keygen':
        return keygen(flags);
      case 'verify-notify':
        return verifyNotify(flags, positional);
      case 'sign':
        return sign(flags, positional);
      case 'cert-sn':
        return certSn(positional);
      default:
        console.error(USAGE);
        return 2;
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof AlipayError) {
      console.error(`error: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

process.exitCode = main(process.argv.slice(2));
