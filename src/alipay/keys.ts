import {
  X509Certificate,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { AlipayKeyError } from './errors.js';
import { errorText } from '../lib/error-text.js';

const MIN_MODULUS_BITS = 2048;
const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

type Expected = 'private' | 'public';

/**
 * Loads the app private key. Accepts PEM (PKCS#8 or PKCS#1), PEM squeezed onto one line,
 * bare base64 (what Alipay's key tool emits), `\n`-escaped .env text, or a file path.
 */
export function loadPrivateKey(input: string, setting: string): KeyObject {
  return loadKey(input, setting, 'private');
}

/** Loads Alipay's public key (SPKI or PKCS#1 public, PEM or bare base64, or a file path). */
export function loadPublicKey(input: string, setting: string): KeyObject {
  return loadKey(input, setting, 'public');
}

function loadKey(input: string, setting: string, expected: Expected): KeyObject {
  const text = unescapeEnvText(input);
  if (text === '') throw new AlipayKeyError(setting, 'is empty');
  let key = parseKeyText(text, setting);
  if (key === undefined) {
    if (looksLikePath(text) && existsSync(text) && statSync(text).isFile()) {
      const fileText = unescapeEnvText(readFileSync(text, 'utf8'));
      key = parseKeyText(fileText, setting);
      if (key === undefined) {
        throw new AlipayKeyError(setting, `file ${text} does not contain a PEM or base64 RSA key`);
      }
    } else {
      throw new AlipayKeyError(
        setting,
        'is neither a PEM key, a bare base64 key nor the path of an existing key file',
      );
    }
  }
  checkKey(key, setting, expected);
  return key;
}

/** Undo .env habits: surrounding quotes and literal `\n` escapes. */
function unescapeEnvText(input: string): string {
  let text = input.trim();
  if (text.length >= 2 && (text[0] === '"' || text[0] === "'") && text.at(-1) === text[0]) {
    text = text.slice(1, -1).trim();
  }
  return text.replace(/\\r\\n|\\n|\\r/g, '\n').trim();
}

function looksLikePath(text: string): boolean {
  return !text.includes('\n') && text.length < 4096;
}

function wrap64(base64: string): string {
  return base64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
}

/** Returns the parsed key, or undefined when the text is not key material at all. */
function parseKeyText(text: string, setting: string): KeyObject | undefined {
  const pem = PEM_RE.exec(text);
  if (pem) {
    const label = pem[1] ?? '';
    // Headers kept, newlines lost or replaced by spaces: strip all whitespace and re-wrap.
    const lines = (pem[2] ?? '').split(/\r?\n/).filter((l) => !/^[A-Za-z-]+:/.test(l.trim()));
    const body = lines.join('').replace(/\s+/g, '');
    if (label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(pem[2] ?? '')) {
      throw new AlipayKeyError(setting, 'is an encrypted private key; export it without a passphrase');
    }
    const normalized = `-----BEGIN ${label}-----\n${wrap64(body)}\n-----END ${label}-----\n`;
    try {
      if (label === 'CERTIFICATE') return new X509Certificate(normalized).publicKey;
      if (label.includes('PRIVATE KEY')) return createPrivateKey(normalized);
      return createPublicKey(normalized);
    } catch (err) {
      throw new AlipayKeyError(setting, `PEM block "${label}" could not be parsed (${errorText(err)})`, {
        cause: err,
      });
    }
  }
  const compact = text.replace(/\s+/g, '');
  if (compact.length < 64 || !BASE64_RE.test(compact)) return undefined;
  const der = Buffer.from(compact, 'base64');
  // Bare base64: Alipay's tool emits PKCS#8 (private) and SPKI (public); some users paste PKCS#1.
  for (const type of ['pkcs8', 'pkcs1'] as const) {
    try {
      return createPrivateKey({ key: der, format: 'der', type });
    } catch {
      /* try the next encoding */
    }
  }
  for (const type of ['spki', 'pkcs1'] as const) {
    try {
      return createPublicKey({ key: der, format: 'der', type });
    } catch {
      /* try the next encoding */
    }
  }
  if (looksLikePath(text) && existsSync(text)) return undefined;
  throw new AlipayKeyError(setting, 'looks like base64 but is not an RSA key in PKCS#8, PKCS#1 or SPKI form');
}

function checkKey(key: KeyObject, setting: string, expected: Expected): void {
  if (key.asymmetricKeyType !== 'rsa') {
    throw new AlipayKeyError(
      setting,
      `is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; Alipay RSA2 needs an RSA key`,
    );
  }
  if (expected === 'public' && key.type === 'private') {
    throw new AlipayKeyError(
      setting,
      `${setting} contains a private key; it must be Alipay's public key (shown in the Alipay console next to your app public key), never a private key`,
    );
  }
  if (expected === 'private' && key.type !== 'private') {
    throw new AlipayKeyError(
      setting,
      `${setting} contains a public key; it must be your app private key (app_private_key.pem, from \`npm run alipay -- keygen\` or Alipay's key tool)`,
    );
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_MODULUS_BITS) {
    throw new AlipayKeyError(setting, `is a ${bits}-bit RSA key; Alipay requires at least ${MIN_MODULUS_BITS} bits`);
  }
}

function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

/**
 * The #1 support problem: the "Alipay public key" setting holds the app's own public key.
 * Then every notification fails verification with no clue why; say it plainly at boot.
 */
export function assertDistinctKeys(
  appPrivateKey: KeyObject,
  alipayPublicKey: KeyObject,
  setting = 'ALIPAY_PUBLIC_KEY',
): void {
  if (spkiDer(appPrivateKey).equals(spkiDer(alipayPublicKey))) {
    throw new AlipayKeyError(
      setting,
      `${setting} is your app's own public key (the one you uploaded to Alipay). Use the Alipay public key shown next to it in the Alipay console.`,
    );
  }
}

/** Bare SPKI DER base64 on one line: what the Alipay console asks you to paste. */
export function publicKeyToBase64(key: KeyObject): string {
  return spkiDer(key).toString('base64');
}

export function publicKeyToPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'pem' }).toString();
}

export function privateKeyToPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** "SHA256:<hex>" over the SPKI DER (first 16 bytes); same value for a private key and its public key. */
export function keyFingerprint(key: KeyObject): string {
  return `SHA256:${createHash('sha256').update(spkiDer(key)).digest('hex').slice(0, 32)}`;
}

export function generateRsaKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}
