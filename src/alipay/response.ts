import type { KeyObject } from 'node:crypto';
import { AlipayResponseError, AlipaySignatureError } from './errors.js';
import { signString, verifySignature, type SignType } from './sign.js';

export interface SignedResponse {
  /** Exact raw text of the `<method>_response` (or `error_response`) value, `{` … `}`. */
  content: string;
  sign?: string;
  /** Certificate mode: the SN of the Alipay certificate that signed the response. */
  certSn?: string;
  isError: boolean;
}

export function responseKeyFor(method: string): string {
  return `${method.replace(/\./g, '_')}_response`;
}

const isWs = (c: string | undefined): boolean => c === ' ' || c === '\n' || c === '\r' || c === '\t';

/** Index just past the JSON string starting at `i` (a `"`); escapes (`\"`, `\\`, `\/`) skipped. */
function skipString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j];
    if (c === '\\') j++;
    else if (c === '"') return j + 1;
  }
  throw new AlipayResponseError('response JSON has an unterminated string');
}

/** Index just past the JSON value starting at `i`; brace matching ignores braces inside strings. */
function skipValue(text: string, i: number): number {
  const first = text[i];
  if (first === '"') return skipString(text, i);
  if (first === '{' || first === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const c = text[j];
      if (c === '"') {
        j = skipString(text, j) - 1;
      } else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new AlipayResponseError('response JSON has an unbalanced object');
  }
  let j = i;
  while (j < text.length && text[j] !== ',' && text[j] !== '}' && !isWs(text[j])) j++;
  return j;
}

/** Raw text spans of the top-level members of a JSON object. */
function scanTopLevel(text: string): Map<string, [number, number]> {
  const members = new Map<string, [number, number]>();
  let i = 0;
  const skipWs = (): void => {
    while (isWs(text[i])) i++;
  };
  skipWs();
  if (text[i] !== '{') throw new AlipayResponseError('response is not a JSON object');
  i++;
  skipWs();
  if (text[i] === '}') return members;
  for (;;) {
    skipWs();
    if (text[i] !== '"') throw new AlipayResponseError('response JSON: expected a member name');
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = keyEnd;
    skipWs();
    if (text[i] !== ':') throw new AlipayResponseError('response JSON: expected ":"');
    i++;
    skipWs();
    const start = i;
    i = skipValue(text, i);
    if (members.has(key)) throw new AlipayResponseError(`response JSON repeats the member "${key}"`);
    members.set(key, [start, i]);
    skipWs();
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '}') return members;
    throw new AlipayResponseError('response JSON: expected "," or "}"');
  }
}

/**
 * Finds the signed part of a gateway response: the exact raw substring of the
 * `<method dots→underscores>_response` value (or `error_response`), never re-serialised —
 * Alipay signs the text as sent, `\/` escapes included.
 */
export function extractSignedResponse(rawText: string, method: string): SignedResponse {
  let whole: unknown;
  try {
    whole = JSON.parse(rawText);
  } catch (err) {
    throw new AlipayResponseError('response is not valid JSON', { rawText, cause: err });
  }
  if (typeof whole !== 'object' || whole === null || Array.isArray(whole)) {
    throw new AlipayResponseError('response is not a JSON object', { rawText });
  }
  let members: Map<string, [number, number]>;
  try {
    members = scanTopLevel(rawText);
  } catch (err) {
    if (err instanceof AlipayResponseError) throw new AlipayResponseError(err.message, { rawText });
    throw err;
  }
  const key = responseKeyFor(method);
  const span = members.get(key) ?? members.get('error_response');
  if (span === undefined) {
    throw new AlipayResponseError(`response has neither "${key}" nor "error_response"`, { rawText });
  }
  const content = rawText.slice(span[0], span[1]);
  if (!content.startsWith('{')) {
    throw new AlipayResponseError(`response member is not an object`, { rawText });
  }
  const sign = (whole as Record<string, unknown>)['sign'];
  const result: SignedResponse = { content, isError: !members.has(key) };
  if (typeof sign === 'string' && sign !== '') result.sign = sign;
  const certSn = (whole as Record<string, unknown>)['alipay_cert_sn'];
  if (typeof certSn === 'string' && certSn !== '') result.certSn = certSn;
  return result;
}

/**
 * Verifies a gateway response and returns the parsed `<method>_response` object.
 * No sign → AlipayResponseError (unverifiable is never success); bad sign → AlipaySignatureError.
 */
export function verifyResponse(
  rawText: string,
  method: string,
  alipayPublicKey: KeyObject,
  signType: SignType,
  signed: SignedResponse = extractSignedResponse(rawText, method),
): Record<string, unknown> {
  const { content, sign } = signed;
  if (sign === undefined) {
    throw new AlipayResponseError(
      `unsigned ${method} response cannot be verified; treating it as an error (unverified body: ${content.slice(0, 300)})`,
      { rawText },
    );
  }
  if (!verifySignature(content, sign, alipayPublicKey, signType)) {
    throw new AlipaySignatureError(
      `${method} response signature is invalid; check that ALIPAY_PUBLIC_KEY is Alipay's public key, not your app public key`,
      { signString: content, reason: 'response-signature-mismatch' },
    );
  }
  // Parse the verified text itself, not the whole document.
  return JSON.parse(content) as Record<string, unknown>;
}

/**
 * Plays Alipay: `{"<m>_response":{...},"sign":"..."}` signed over the exact JSON text.
 * `escapeSlashes` writes `/` as `\/` like Alipay's gateway does.
 */
export function buildSignedResponse(
  method: string,
  body: Record<string, unknown>,
  alipayPrivateKey: KeyObject,
  opts: { error?: boolean; signType?: SignType; escapeSlashes?: boolean; omitSign?: boolean; certSn?: string } = {},
): string {
  const key = opts.error ? 'error_response' : responseKeyFor(method);
  let content = JSON.stringify(body);
  // `/` can only occur inside JSON strings, where `\/` is a valid escape.
  if (opts.escapeSlashes) content = content.replace(/\//g, '\\/');
  if (opts.omitSign) return `{"${key}":${content}}`;
  const sign = signString(content, alipayPrivateKey, opts.signType ?? 'RSA2');
  const certSn = opts.certSn === undefined ? '' : `,"alipay_cert_sn":${JSON.stringify(opts.certSn)}`;
  return `{"${key}":${content}${certSn},"sign":"${sign}"}`;
}
