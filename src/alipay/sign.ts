import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { AlipayError } from './errors.js';
import { formatAlipayTime } from './time.js';

/** RSA2 = SHA256withRSA (PKCS#1 v1.5); RSA = legacy SHA1withRSA. */
export type SignType = 'RSA2' | 'RSA';

export type Params = Record<string, string | undefined | null>;

export function hashForSignType(signType: SignType): 'sha256' | 'sha1' {
  if (signType === 'RSA2') return 'sha256';
  if (signType === 'RSA') return 'sha1';
  throw new AlipayError(`unsupported sign_type: ${String(signType)}`);
}

export function isSignType(value: unknown): value is SignType {
  return value === 'RSA2' || value === 'RSA';
}

/** Drops `sign` and empty/undefined/null values (empties must be neither signed nor sent). */
export function dropEmptyParams(params: Params): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    if (k === 'sign' || v === undefined || v === null || v === '') continue;
    out[k] = v;
  }
  return out;
}

/**
 * Alipay's string to sign: every parameter except `sign` (and `sign_type` when
 * excludeSignType — notifications), empty values dropped, keys in plain code-unit order
 * (`.sort()`, not localeCompare), `k=v` joined with `&`, values raw (not URL-encoded).
 */
export function buildSignString(params: Params, opts: { excludeSignType?: boolean } = {}): string {
  const clean = dropEmptyParams(params);
  if (opts.excludeSignType) delete clean['sign_type'];
  return Object.keys(clean)
    .sort()
    .map((k) => `${k}=${clean[k]}`)
    .join('&');
}

/** Signs the UTF-8 bytes of `content` (or the given bytes) and returns standard base64. */
export function signString(content: string | Buffer, privateKey: KeyObject, signType: SignType): string {
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  return cryptoSign(hashForSignType(signType), data, privateKey).toString('base64');
}

export function verifySignature(
  content: string | Buffer,
  sign: string,
  publicKey: KeyObject,
  signType: SignType,
): boolean {
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const signature = Buffer.from(sign, 'base64');
  if (signature.length === 0) return false;
  try {
    return cryptoVerify(hashForSignType(signType), data, publicKey, signature);
  } catch {
    return false;
  }
}

/**
 * Request signing: returns the params actually to send (empties removed) plus `sign`.
 * `sign_type` is part of the signed string for requests; it is added when absent.
 */
export function signRequestParams(
  params: Params,
  privateKey: KeyObject,
  signType: SignType,
): Record<string, string> {
  const clean = dropEmptyParams(params);
  const declared = clean['sign_type'];
  if (declared === undefined) clean['sign_type'] = signType;
  else if (declared !== signType) {
    throw new AlipayError(`sign_type parameter "${declared}" does not match signType "${signType}"`);
  }
  const sign = signString(buildSignString(clean), privateKey, signType);
  return { ...clean, sign };
}

export interface ApiRequest {
  appId: string;
  method: string;
  privateKey: KeyObject;
  signType: SignType;
  timestamp: Date;
  biz: Record<string, string>;
  notifyUrl?: string;
  returnUrl?: string;
  /** Certificate mode: both SNs are sent and signed with every request. */
  certSns?: CertSns;
}

/** Public-key certificate mode: the SNs every request carries (see "Public-key certificate mode"). */
export interface CertSns {
  appCertSn: string;
  alipayRootCertSn: string;
}

/** The system parameters every OpenAPI request carries, with `biz_content`, signed (see "Request parameters"). */
export function signApiRequest(req: ApiRequest): Record<string, string> {
  return signRequestParams(
    {
      app_id: req.appId,
      method: req.method,
      format: 'JSON',
      charset: 'utf-8',
      sign_type: req.signType,
      timestamp: formatAlipayTime(req.timestamp),
      version: '1.0',
      notify_url: req.notifyUrl,
      return_url: req.returnUrl, // an empty return_url is a known invalid-signature cause: dropped
      biz_content: JSON.stringify(req.biz),
      app_cert_sn: req.certSns?.appCertSn,
      alipay_root_cert_sn: req.certSns?.alipayRootCertSn,
    },
    req.privateKey,
    req.signType,
  );
}
