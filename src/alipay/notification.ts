import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { amountToFen } from './amount.js';
import { AlipayNotificationError } from './errors.js';
import { encodeForm, encodeText, formValueBytes, parseForm, resolveCharset, type FormCharset, type ParsedForm } from './form.js';
import { buildSignString, dropEmptyParams, hashForSignType, isSignType, signString, type SignType } from './sign.js';
import { parseAlipayTime } from './time.js';

export type TradeStatus = 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_FINISHED' | 'TRADE_CLOSED';
const TRADE_STATUSES: readonly string[] = ['WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED'];

export function isTradeStatus(value: unknown): value is TradeStatus {
  return typeof value === 'string' && TRADE_STATUSES.includes(value);
}

/** A verified async notification, in our words. Only TRADE_SUCCESS/TRADE_FINISHED mean paid. */
export interface TradeNotification {
  notifyId: string;
  notifyType: string;
  notifyTime?: Date;
  appId: string;
  sellerId?: string;
  outTradeNo: string;
  tradeNo?: string;
  tradeStatus: TradeStatus;
  totalAmountFen: number;
  receiptAmountFen?: number;
  buyerLogonId?: string;
  buyerId?: string;
  gmtPayment?: Date;
  gmtClose?: Date;
  /** Present on refund events (partial: TRADE_SUCCESS, full: TRADE_CLOSED). */
  refundFeeFen?: number;
  gmtRefund?: Date;
  outBizNo?: string;
  passbackParams?: string;
  /** Every decoded field as received (wire names), for logging and audits. */
  fields: Record<string, string>;
  /** The exact string whose signature verified. */
  signString: string;
}

/** A verified return_url redirect. Never mark an order paid from it: show the real state. */
export interface ReturnResult {
  outTradeNo: string;
  tradeNo: string;
  totalAmountFen: number;
  appId: string;
  sellerId?: string;
  fields: Record<string, string>;
  signString: string;
}

export interface SignedFormCheck {
  valid: boolean;
  charset: FormCharset;
  signType: SignType;
  fields: Record<string, string>;
  /** The string that verified, or (when invalid) the primary candidate. */
  signString: string;
  /** Fields left out of `signString`. */
  excluded: string[];
}

interface Candidate {
  signString: string;
  bytes: Buffer;
  excluded: string[];
}

/** Sign content over the received bytes (GBK notifications are signed over GBK bytes). */
function buildCandidate(form: ParsedForm, excluded: string[], keepEmpty: boolean): Candidate {
  const keys = form.keys.filter((k) => !excluded.includes(k) && (keepEmpty || form.encoded[k] !== '')).sort();
  const signString = keys.map((k) => `${k}=${form.fields[k] ?? ''}`).join('&');
  const bytes = form.utf8Exact
    ? Buffer.from(signString, 'utf8')
    : Buffer.concat(keys.flatMap((k, i) => [Buffer.from(`${i === 0 ? '' : '&'}${k}=`, 'latin1'), formValueBytes(form, k)]));
  return { signString, bytes, excluded };
}

/**
 * Verifies the signature of a parsed notification / return query without interpreting it.
 * Alipay signs every field except `sign` and `sign_type`, empty values dropped.
 * ⚠ Some non-trade notifications sign with `sign_type`; SDKs also disagree on empty values:
 * those variants are tried only when the primary one fails.
 */
export function checkSignedForm(
  form: ParsedForm,
  alipayPublicKey: KeyObject,
  opts: { allowSignTypeIncluded: boolean },
): SignedFormCheck {
  const { fields } = form;
  const sign = fields['sign'];
  if (sign === undefined || sign === '') {
    throw new AlipayNotificationError('missing-field', 'the "sign" field is missing', { field: 'sign' });
  }
  const declaredType = fields['sign_type'] || 'RSA2';
  if (!isSignType(declaredType)) {
    throw new AlipayNotificationError('unsupported-sign-type', `unsupported sign_type "${declaredType}"`, {
      field: 'sign_type',
    });
  }
  const signature = Buffer.from(sign, 'base64');
  const hasEmpty = form.keys.some((k) => form.encoded[k] === '');
  const candidates: Candidate[] = [buildCandidate(form, ['sign', 'sign_type'], false)];
  if (hasEmpty) candidates.push(buildCandidate(form, ['sign', 'sign_type'], true));
  if (opts.allowSignTypeIncluded && fields['sign_type'] !== undefined) {
    candidates.push(buildCandidate(form, ['sign'], false));
  }
  const primary = candidates[0] as Candidate;
  const algorithm = hashForSignType(declaredType);
  for (const candidate of candidates) {
    let ok = false;
    try {
      ok = signature.length > 0 && cryptoVerify(algorithm, candidate.bytes, alipayPublicKey, signature);
    } catch {
      ok = false;
    }
    if (ok) {
      return { valid: true, charset: form.charset, signType: declaredType, fields, ...pick(candidate) };
    }
  }
  return { valid: false, charset: form.charset, signType: declaredType, fields, ...pick(primary) };
}

function pick(c: Candidate): { signString: string; excluded: string[] } {
  return { signString: c.signString, excluded: c.excluded };
}

const BAD_SIGNATURE_HINT =
  'Likely causes: the configured Alipay public key is your app public key (use the Alipay public key ' +
  'shown next to it in the Alipay console); the body was parsed, decoded twice or re-encoded before ' +
  'verification (pass the raw request body); sandbox keys used against production or vice versa.';

function verifyOrThrow(form: ParsedForm, key: KeyObject, allowSignTypeIncluded: boolean, what: string): SignedFormCheck {
  const check = checkSignedForm(form, key, { allowSignTypeIncluded });
  if (!check.valid) {
    throw new AlipayNotificationError('bad-signature', `${what} signature is invalid. ${BAD_SIGNATURE_HINT}`, {
      signString: check.signString,
    });
  }
  return check;
}

function requireField(fields: Record<string, string>, name: string): string {
  const value = fields[name];
  if (value === undefined || value === '') {
    throw new AlipayNotificationError('missing-field', `the "${name}" field is missing`, { field: name });
  }
  return value;
}

function parseAmountField(fields: Record<string, string>, name: string): number | undefined {
  const value = fields[name];
  if (value === undefined || value === '') return undefined;
  try {
    return amountToFen(value);
  } catch {
    throw new AlipayNotificationError('invalid-field', `"${name}" is not an amount: ${JSON.stringify(value)}`, {
      field: name,
    });
  }
}

// Times are informational: a genuine, signed notification is not refused over one (Alipay would
// retry it for a day); an unreadable time is left out. Amounts decide, so they stay strict.
function parseTimeField(fields: Record<string, string>, name: string): Date | undefined {
  const value = fields[name];
  if (value === undefined || value === '') return undefined;
  try {
    return parseAlipayTime(value);
  } catch {
    return undefined;
  }
}

function optionalAmount(fields: Record<string, string>, name: string): number | undefined {
  try {
    return parseAmountField(fields, name);
  } catch {
    return undefined;
  }
}

function optional(fields: Record<string, string>, name: string): string | undefined {
  const value = fields[name];
  return value === undefined || value === '' ? undefined : value;
}

/** Removes undefined properties so optional fields are absent rather than `undefined`. */
function compact<T extends object>(obj: T): T {
  for (const k of Object.keys(obj) as Array<keyof T>) if (obj[k] === undefined) delete obj[k];
  return obj;
}

/**
 * Verifies an async notification (the raw POST body, unparsed) and returns it typed.
 * Throws AlipayNotificationError; a caught error means: ignore the notification, don't reply `success`.
 * The caller must still check out_trade_no / amount / seller_id / app_id against its own records.
 */
export function verifyNotification(rawBody: Buffer | string, alipayPublicKey: KeyObject): TradeNotification {
  const form = parseForm(rawBody);
  const notifyType = form.fields['notify_type'];
  const check = verifyOrThrow(form, alipayPublicKey, notifyType !== 'trade_status_sync', 'Alipay notification');
  const { fields } = check;
  const outTradeNo = requireField(fields, 'out_trade_no');
  const tradeStatus = requireField(fields, 'trade_status');
  const appId = requireField(fields, 'app_id');
  const notifyId = requireField(fields, 'notify_id');
  requireField(fields, 'total_amount');
  requireField(fields, 'notify_type');
  if (!isTradeStatus(tradeStatus)) {
    throw new AlipayNotificationError('invalid-field', `unknown trade_status "${tradeStatus}"`, {
      field: 'trade_status',
    });
  }
  return compact<TradeNotification>({
    notifyId,
    notifyType: fields['notify_type'] as string,
    notifyTime: parseTimeField(fields, 'notify_time'),
    appId,
    sellerId: optional(fields, 'seller_id'),
    outTradeNo,
    tradeNo: optional(fields, 'trade_no'),
    tradeStatus,
    totalAmountFen: parseAmountField(fields, 'total_amount') as number,
    receiptAmountFen: optionalAmount(fields, 'receipt_amount'),
    buyerLogonId: optional(fields, 'buyer_logon_id'),
    buyerId: optional(fields, 'buyer_id'),
    gmtPayment: parseTimeField(fields, 'gmt_payment'),
    gmtClose: parseTimeField(fields, 'gmt_close'),
    refundFeeFen: parseAmountField(fields, 'refund_fee'),
    gmtRefund: parseTimeField(fields, 'gmt_refund'),
    outBizNo: optional(fields, 'out_biz_no'),
    passbackParams: optional(fields, 'passback_params'),
    fields,
    signString: check.signString,
  });
}

/** Takes the query part of a return URL (a full URL, `?query` or the bare query). */
export function extractQueryString(input: string): string {
  let text = input.trim();
  const q = text.indexOf('?');
  if (q >= 0) text = text.slice(q + 1);
  const hash = text.indexOf('#');
  return hash >= 0 ? text.slice(0, hash) : text;
}

/**
 * Verifies the return_url GET query (method=alipay.trade.page.pay.return); `sign` and
 * `sign_type` are excluded like in notifications.
 */
export function verifyReturn(queryString: string, alipayPublicKey: KeyObject): ReturnResult {
  const form = parseForm(extractQueryString(queryString));
  const { fields, signString: verified } = verifyOrThrow(form, alipayPublicKey, false, 'Alipay return query');
  const outTradeNo = requireField(fields, 'out_trade_no');
  const tradeNo = requireField(fields, 'trade_no');
  const appId = requireField(fields, 'app_id');
  requireField(fields, 'total_amount');
  return compact<ReturnResult>({
    outTradeNo,
    tradeNo,
    totalAmountFen: parseAmountField(fields, 'total_amount') as number,
    appId,
    sellerId: optional(fields, 'seller_id'),
    fields,
    signString: verified,
  });
}

export interface SignNotificationOptions {
  /** Body charset; also written to the `charset` field. Default: the field, else utf-8. */
  charset?: 'utf-8' | 'GBK' | 'gbk' | 'UTF-8';
  signType?: SignType;
  /** Sign with `sign_type` included (as some non-trade notification types do). */
  includeSignType?: boolean;
}

/**
 * Plays Alipay: signs `fields` the way Alipay signs notifications (sign string without
 * `sign`/`sign_type`, bytes in the notification charset) and returns the form-encoded body.
 */
export function signNotification(
  fields: Record<string, string>,
  alipayPrivateKey: KeyObject,
  opts: SignNotificationOptions = {},
): string {
  const all = dropEmptyParams(fields);
  if (opts.charset !== undefined) all['charset'] = opts.charset;
  else all['charset'] ??= 'utf-8';
  const charsetLabel = all['charset'];
  const charset = resolveCharset(charsetLabel);
  if (charset === undefined) {
    throw new AlipayNotificationError('unknown-charset', `unknown charset "${charsetLabel}"`);
  }
  const signType = opts.signType ?? 'RSA2';
  all['sign_type'] = signType;
  const content = buildSignString(all, { excludeSignType: !opts.includeSignType });
  const sign = signString(encodeText(content, charset), alipayPrivateKey, signType);
  return encodeForm({ ...all, sign }, charsetLabel);
}

/** Plays Alipay for the return_url redirect: the signed query string (append to return_url + '?'). */
export function signReturnQuery(
  fields: Record<string, string>,
  alipayPrivateKey: KeyObject,
  opts: SignNotificationOptions = {},
): string {
  return signNotification(fields, alipayPrivateKey, opts);
}
