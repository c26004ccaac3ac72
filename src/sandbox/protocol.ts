import type { KeyObject } from 'node:crypto';
import {
  amountToFen,
  buildSignString,
  decodeText,
  encodeText,
  isSignType,
  parseAlipayTime,
  resolveCharset,
  verifySignature,
  type FormCharset,
} from '../alipay/index.js';
import { startOfBeijingDay } from '../lib/beijing-time.js';
import { OUT_TRADE_NO_PATTERN } from '../lib/trade-number.js';

// The gateway's side of Alipay's request rules: decoding, system-parameter checks and signature
// verification, with the codes and messages Alipay answers.

export const PAGE_PAY_METHODS = {
  'alipay.trade.page.pay': 'FAST_INSTANT_TRADE_PAY',
  'alipay.trade.wap.pay': 'QUICK_WAP_WAY',
} as const;
export type PagePayMethod = keyof typeof PAGE_PAY_METHODS;

export const API_METHODS = [
  'alipay.trade.query',
  'alipay.trade.close',
  'alipay.trade.refund',
  'alipay.trade.fastpay.refund.query',
  'alipay.open.app.alipaycert.download',
  'alipay.data.dataservice.bill.downloadurl.query',
] as const;
export type ApiMethod = (typeof API_METHODS)[number];

export function isPagePayMethod(method: string | undefined): method is PagePayMethod {
  return method !== undefined && Object.hasOwn(PAGE_PAY_METHODS, method);
}

export function isApiMethod(method: string | undefined): method is ApiMethod {
  return method !== undefined && (API_METHODS as readonly string[]).includes(method);
}

const MESSAGES: Record<string, string> = {
  '10000': 'Success',
  '40001': 'Missing Required Arguments',
  '40002': 'Invalid Arguments',
  '40004': 'Business Failed',
};

/** An answer other than success: code/msg/sub_code/sub_msg exactly as the gateway writes them. */
export class GatewayError extends Error {
  readonly code: string;
  readonly subCode: string;
  readonly subMsg: string;
  /** The string the gateway verified (invalid-signature only). */
  readonly signString?: string;
  /** Under `error_response` instead of `<method>_response` (the method itself is unknown). */
  readonly errorEnvelope: boolean;
  /** Left unsigned: the app is unknown, so there is no key pair to sign for it. */
  readonly unsigned: boolean;
  constructor(
    code: '40001' | '40002' | '40004',
    subCode: string,
    subMsg: string,
    opts: { signString?: string; errorEnvelope?: boolean; unsigned?: boolean } = {},
  ) {
    super(`${subCode}: ${subMsg}`);
    this.name = 'GatewayError';
    this.code = code;
    this.subCode = subCode;
    this.subMsg = subMsg;
    if (opts.signString !== undefined) this.signString = opts.signString;
    this.errorEnvelope = opts.errorEnvelope ?? false;
    this.unsigned = opts.unsigned ?? false;
  }

  get msg(): string {
    return MESSAGES[this.code] ?? 'Unknown';
  }

  toBody(): Record<string, string> {
    return { code: this.code, msg: this.msg, sub_code: this.subCode, sub_msg: this.subMsg };
  }
}

export const missingParameter = (name: string): GatewayError =>
  new GatewayError('40001', 'isv.missing-parameter', `缺少必选参数 ${name} (missing required parameter ${name})`);

export const invalidParameter = (name: string, why: string): GatewayError =>
  new GatewayError('40004', 'ACQ.INVALID_PARAMETER', `参数无效 (invalid parameter) ${name}: ${why}`);

export const businessError = (subCode: string, subMsg: string): GatewayError => new GatewayError('40004', subCode, subMsg);

export function successBody(fields: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = { code: '10000', msg: 'Success' };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out;
}

export interface GatewayRequest {
  /** Query string and form body merged (body wins), decoded in `charset`. */
  params: Record<string, string>;
  charset: FormCharset;
  /** Whether `charset` came in the query string (where Alipay looks for it). */
  charsetInQuery: boolean;
}

/** Form-decodes once (`+` → space, `%XX` → byte) into a binary string (one char per byte). */
function formDecodeBinary(text: string, where: string): string {
  if (/%(?![0-9A-Fa-f]{2})/.test(text)) {
    throw new GatewayError('40002', 'isv.invalid-parameter', `无法解析的请求参数 (malformed percent escape in the ${where})`);
  }
  return text.replaceAll('+', ' ').replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** name → value bytes (binary strings) of an application/x-www-form-urlencoded text. */
function splitForm(raw: string, where: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const segment of raw.split('&')) {
    if (segment === '') continue;
    const eq = segment.indexOf('=');
    const name = formDecodeBinary(eq < 0 ? segment : segment.slice(0, eq), where);
    const value = eq < 0 ? '' : formDecodeBinary(segment.slice(eq + 1), where);
    if (out.has(name)) {
      throw new GatewayError('40002', 'isv.invalid-parameter', `重复的参数 (the ${where} repeats "${name}")`);
    }
    out.set(name, value);
  }
  return out;
}

/**
 * Reads the parameters like Alipay's gateway: the query string and a form body together, both
 * decoded in the `charset` named in the query string. Without it the gateway falls back to GBK —
 * the classic "验签出错，请确认charset参数放在了URL查询字符串中" when UTF-8 text is in the body.
 */
export function parseGatewayRequest(rawQuery: string, body: Buffer | undefined): GatewayRequest {
  const query = splitForm(rawQuery, 'query string');
  const form = body && body.length > 0 ? splitForm(body.toString('latin1'), 'form body') : new Map<string, string>();
  const label = query.get('charset');
  const charsetInQuery = label !== undefined && label !== '';
  const charset = charsetInQuery ? resolveCharset(label) : 'gbk';
  if (charset === undefined) throw new GatewayError('40002', 'isv.invalid-charset', '字符集错误 (unknown charset)');
  const params: Record<string, string> = {};
  for (const source of [query, form]) {
    for (const [name, bytes] of source) {
      if (name === '__proto__') continue;
      params[name] = /[^\x00-\x7f]/.test(bytes) ? decodeText(Buffer.from(bytes, 'latin1'), charset) : bytes;
    }
  }
  return { params, charset, charsetInQuery };
}

const TIMESTAMP_TOLERANCE_MS = 10 * 60 * 1000;

export interface SystemCheckOptions {
  appId: string;
  appPublicKey: KeyObject;
  now: Date;
}

/**
 * System parameters in the gateway's order: app_id, method, format, timestamp, version,
 * sign_type, sign, then the signature over every sent parameter except `sign` (sign_type included).
 */
export function checkSystemParams(req: GatewayRequest, opts: SystemCheckOptions): { method: string } {
  const p = req.params;
  const method = p['method'];
  const known = isPagePayMethod(method) || isApiMethod(method);
  const env = { errorEnvelope: !known };
  if (!p['app_id']) throw new GatewayError('40001', 'isv.missing-app-id', '缺少AppID参数', env);
  if (!method) throw new GatewayError('40001', 'isv.missing-method', '缺少方法名参数', { errorEnvelope: true });
  if (!known) throw new GatewayError('40002', 'isv.invalid-method', '不存在的方法名', { errorEnvelope: true });
  if (p['app_id'] !== opts.appId) {
    throw new GatewayError('40002', 'isv.invalid-app-id', '无效的AppID参数', { unsigned: true });
  }
  if (p['format'] !== undefined && p['format'] !== '' && p['format'].toUpperCase() !== 'JSON') {
    throw new GatewayError('40002', 'isv.invalid-format', '无效的数据格式');
  }
  const timestamp = p['timestamp'];
  if (!timestamp) throw new GatewayError('40001', 'isv.missing-timestamp', '缺少时间戳参数');
  let sent: Date;
  try {
    sent = parseAlipayTime(timestamp);
  } catch {
    throw new GatewayError('40002', 'isv.invalid-timestamp', '非法的时间戳参数 (expected yyyy-MM-dd HH:mm:ss, Beijing time)');
  }
  if (Math.abs(sent.getTime() - opts.now.getTime()) > TIMESTAMP_TOLERANCE_MS) {
    throw new GatewayError(
      '40002',
      'isv.invalid-timestamp',
      '非法的时间戳参数 (more than 10 minutes from the gateway clock; the timestamp must be Beijing time, UTC+8)',
    );
  }
  if (!p['version']) throw new GatewayError('40001', 'isv.missing-version', '缺少版本参数');
  if (p['version'] !== '1.0') throw new GatewayError('40002', 'isv.invalid-version', '版本号错误 (version must be 1.0)');
  const signType = p['sign_type'];
  if (!signType) throw new GatewayError('40001', 'isv.missing-signature-type', '缺少签名类型参数');
  if (!isSignType(signType)) throw new GatewayError('40002', 'isv.invalid-signature-type', '无效签名类型');
  const sign = p['sign'];
  if (!sign) throw new GatewayError('40001', 'isv.missing-signature', '缺少签名参数');
  const signString = buildSignString(p);
  // Decoded in the query-string charset (GBK without one), verified over the bytes in the declared
  // `charset`: UTF-8 text in a body whose charset is not in the query string fails, as on Alipay.
  const verifyCharset = resolveCharset(p['charset']) ?? req.charset;
  if (!verifySignature(encodeText(signString, verifyCharset), sign, opts.appPublicKey, signType)) {
    const hint = req.charsetInQuery ? '' : '（请确认charset参数放在了URL查询字符串中 — charset was not in the query string, the body was decoded as GBK）';
    throw new GatewayError(
      '40002',
      'isv.invalid-signature',
      `验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：${signString}${hint}`,
      { signString },
    );
  }
  return { method };
}

/** biz_content as an object of its members (strings; numbers kept as their text). */
export function parseBizContent(params: Record<string, string>): Record<string, string> {
  const text = params['biz_content'];
  if (text === undefined || text === '') throw missingParameter('biz_content');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new GatewayError('40002', 'isv.invalid-parameter', 'biz_content 不是合法的JSON (biz_content is not valid JSON)');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new GatewayError('40002', 'isv.invalid-parameter', 'biz_content 必须是JSON对象 (biz_content must be a JSON object)');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else if (v !== null) out[k] = JSON.stringify(v);
  }
  return out;
}

/** A yuan amount with at most 2 decimals, 0.01 – 100000000.00, as integer fen. */
export function parseAmount(name: string, value: string | undefined): number {
  if (value === undefined || value === '') throw missingParameter(name);
  let fen: number;
  try {
    fen = amountToFen(value);
  } catch {
    throw invalidParameter(name, `"${value}" is not an amount in yuan with at most 2 decimals, up to 100000000.00`);
  }
  if (fen < 1) throw invalidParameter(name, `"${value}" is outside 0.01 – 100000000.00`);
  return fen;
}

export function checkOutNo(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw missingParameter(name);
  if (!OUT_TRADE_NO_PATTERN.test(value)) throw invalidParameter(name, 'must be 1-64 letters, digits or underscores');
  return value;
}

const DEFAULT_EXPIRY_MS = 24 * 60 * 60 * 1000;
const MAX_EXPIRY_MS = 15 * 24 * 60 * 60 * 1000;

/** time_expire (yyyy-MM-dd HH:mm[:ss], Beijing) wins over timeout_express (90m, 2h, 1d, 1c); default 24 h. */
export function resolveExpiry(biz: Record<string, string>, now: Date): Date {
  const timeExpire = biz['time_expire'];
  if (timeExpire) {
    let at: Date;
    try {
      at = parseAlipayTime(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/.test(timeExpire) ? `${timeExpire}:00` : timeExpire);
    } catch {
      throw invalidParameter('time_expire', 'expected yyyy-MM-dd HH:mm:ss (Beijing time)');
    }
    if (at.getTime() <= now.getTime()) throw invalidParameter('time_expire', 'is in the past');
    if (at.getTime() - now.getTime() > MAX_EXPIRY_MS) throw invalidParameter('time_expire', 'is more than 15 days ahead');
    return at;
  }
  const timeout = biz['timeout_express'];
  if (timeout) {
    if (timeout === '1c') {
      // Until the end of the current Beijing day.
      return startOfBeijingDay(now, 1);
    }
    const m = /^(\d{1,5})([mhd])$/.exec(timeout);
    if (!m) throw invalidParameter('timeout_express', 'expected a number and m, h or d (e.g. 90m), or 1c');
    const unit = { m: 60_000, h: 3600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
    const ms = Number(m[1]) * unit;
    if (ms < 60_000 || ms > MAX_EXPIRY_MS) throw invalidParameter('timeout_express', 'must be between 1m and 15d');
    return new Date(now.getTime() + ms);
  }
  return new Date(now.getTime() + DEFAULT_EXPIRY_MS);
}
