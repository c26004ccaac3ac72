import type { KeyObject } from 'node:crypto';
import { MAX_TRADE_FEN } from '../lib/money.js';
import { OUT_TRADE_NO_PATTERN } from '../lib/trade-number.js';
import { fenToAmount } from './amount.js';
import { AlipayParamError } from './errors.js';
import { signApiRequest, type CertSns, type SignType } from './sign.js';
import { formatAlipayTime } from './time.js';

export interface PagePayOptions {
  appId: string;
  privateKey: KeyObject;
  signType?: SignType;
  /** 'page' = 电脑网站支付 (alipay.trade.page.pay); 'wap' = 手机网站支付 (alipay.trade.wap.pay). */
  kind: 'page' | 'wap';
  outTradeNo: string;
  totalAmountFen: number;
  subject: string;
  body?: string;
  timeExpire?: Date;
  notifyUrl?: string;
  returnUrl?: string;
  /** Returned verbatim in the notification; Alipay asks for it URL-encoded by the caller. */
  passbackParams?: string;
  now?: Date;
  /** Certificate mode: app_cert_sn and alipay_root_cert_sn. */
  certSns?: CertSns;
}

const PRODUCTS = {
  page: { method: 'alipay.trade.page.pay', productCode: 'FAST_INSTANT_TRADE_PAY' },
  wap: { method: 'alipay.trade.wap.pay', productCode: 'QUICK_WAP_WAY' },
} as const;

const MIN_FEN = 1; // 0.01

function checkUrl(name: string, url: string | undefined): void {
  if (url === undefined || url === '') return;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AlipayParamError(name, `is not an absolute URL: ${url}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new AlipayParamError(name, `must be http(s): ${url}`);
  }
}

/** Signed parameters for page/wap pay; empty optional values are neither signed nor sent. */
export function buildPagePayParams(opts: PagePayOptions): Record<string, string> {
  if (!OUT_TRADE_NO_PATTERN.test(opts.outTradeNo)) {
    throw new AlipayParamError('out_trade_no', 'must be 1-64 letters, digits or underscores');
  }
  if (!Number.isSafeInteger(opts.totalAmountFen) || opts.totalAmountFen < MIN_FEN || opts.totalAmountFen > MAX_TRADE_FEN) {
    throw new AlipayParamError('total_amount', 'must be an integer number of fen from 1 (0.01) to 10000000000 (100000000.00)');
  }
  if (opts.subject.trim() === '' || opts.subject.length > 256) {
    throw new AlipayParamError('subject', 'must be 1-256 characters');
  }
  if (opts.body !== undefined && opts.body.length > 128) {
    throw new AlipayParamError('body', 'must be at most 128 characters');
  }
  checkUrl('notify_url', opts.notifyUrl);
  checkUrl('return_url', opts.returnUrl);
  const product = PRODUCTS[opts.kind];
  const signType = opts.signType ?? 'RSA2';
  const biz: Record<string, string> = {
    out_trade_no: opts.outTradeNo,
    total_amount: fenToAmount(opts.totalAmountFen),
    subject: opts.subject,
    product_code: product.productCode,
  };
  if (opts.body) biz['body'] = opts.body;
  if (opts.timeExpire) biz['time_expire'] = formatAlipayTime(opts.timeExpire);
  if (opts.passbackParams) biz['passback_params'] = opts.passbackParams;
  return signApiRequest({
    appId: opts.appId,
    method: product.method,
    privateKey: opts.privateKey,
    signType,
    timestamp: opts.now ?? new Date(),
    biz,
    notifyUrl: opts.notifyUrl,
    returnUrl: opts.returnUrl,
    certSns: opts.certSns,
  });
}

function toQuery(params: Record<string, string>, skip?: string): string {
  return Object.entries(params)
    .filter(([k, v]) => k !== skip && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}

function joinUrl(gatewayUrl: string, query: string): string {
  if (query === '') return gatewayUrl;
  return `${gatewayUrl}${gatewayUrl.includes('?') ? '&' : '?'}${query}`;
}

/** GET delivery: redirect the browser to gateway?<every param URL-encoded, sign included>. */
export function buildPagePayUrl(gatewayUrl: string, params: Record<string, string>): string {
  return joinUrl(gatewayUrl, toQuery(params));
}

export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * POST delivery: an auto-submitting form. All system parameters (at least `charset`) must be in
 * the action URL's query string, only `biz_content` in a hidden input — otherwise the gateway
 * may decode as GBK ("验签出错，请确认charset参数放在了URL查询字符串中").
 * Pass a CSP nonce when the page has a script-src policy; the CSP must also allow form-action
 * to the gateway.
 */
export function buildPagePayForm(
  gatewayUrl: string,
  params: Record<string, string>,
  opts: { nonce?: string } = {},
): string {
  const action = joinUrl(gatewayUrl, toQuery(params, 'biz_content'));
  const bizContent = params['biz_content'];
  const input =
    bizContent === undefined || bizContent === ''
      ? ''
      : `<input type="hidden" name="biz_content" value="${escapeHtml(bizContent)}">`;
  const nonce = opts.nonce === undefined ? '' : ` nonce="${escapeHtml(opts.nonce)}"`;
  return (
    `<form id="alipay-submit" action="${escapeHtml(action)}" method="post" accept-charset="utf-8">` +
    input +
    `<noscript><button type="submit">Continue to Alipay</button></noscript>` +
    `</form>\n` +
    `<script${nonce}>document.getElementById('alipay-submit').submit();</script>`
  );
}
