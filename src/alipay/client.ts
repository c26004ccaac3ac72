import type { KeyObject } from 'node:crypto';
import { errorText } from '../lib/error-text.js';
import { amountToFen, fenToAmount } from './amount.js';
import { AlipayError, AlipayResponseError, AlipayTransportError } from './errors.js';
import { encodeForm } from './form.js';
import { isTradeStatus, type TradeStatus } from './notification.js';
import type { AlipayCertKeyring, DownloadedCert } from './cert-keyring.js';
import { extractSignedResponse, verifyResponse } from './response.js';
import { signApiRequest, verifySignature, type CertSns, type SignType } from './sign.js';
import { parseAlipayTime } from './time.js';

export interface TransportRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
}
export type Transport = (req: TransportRequest) => Promise<{ status: number; text: string }>;

export interface AlipayClientOptions {
  gatewayUrl: string;
  appId: string;
  privateKey: KeyObject;
  alipayPublicKey: KeyObject;
  signType?: SignType;
  timeoutMs?: number;
  transport?: Transport;
  now?: () => Date;
  /**
   * Public-key certificate mode: the SNs sent with every request, and the Alipay certificates
   * responses are verified with (by their alipay_cert_sn). `alipayPublicKey` is then the
   * configured Alipay certificate's key.
   */
  certificates?: CertSns & { keyring: AlipayCertKeyring };
}

export const CERT_DOWNLOAD_METHOD = 'alipay.open.app.alipaycert.download';

export interface BusinessError {
  kind: 'business-error';
  code: string;
  msg: string;
  subCode?: string;
  subMsg?: string;
}

export type QueryTradeResult =
  | {
      kind: 'found';
      tradeStatus: TradeStatus;
      tradeNo: string;
      outTradeNo: string;
      totalAmountFen: number;
      buyerLogonId?: string;
      sendPayDate?: Date;
    }
  | { kind: 'not-exist' }
  | BusinessError;

export type CloseTradeResult = { kind: 'closed' } | { kind: 'not-exist' } | { kind: 'status-error' } | BusinessError;

export type RefundResult =
  | { kind: 'refunded'; fundChange: boolean; refundFeeFen: number; tradeNo: string }
  | BusinessError;

export type QueryRefundResult =
  | { kind: 'done'; refundAmountFen: number }
  | { kind: 'pending'; refundAmountFen: number; refundStatus: string }
  | { kind: 'not-found' }
  | BusinessError;

export type BillUrlResult =
  | { kind: 'url'; url: string }
  /** isp.bill_not_exist / BILL_NOT_EXIST: no bill for this date (yet: a day is ready the next morning). */
  | { kind: 'no-bill'; subCode: string; subMsg?: string }
  | BusinessError;

export interface AlipayClient {
  /** ACQ.TRADE_NOT_EXIST means the buyer never reached the cashier: unpaid, not an error. */
  queryTrade(args: { outTradeNo?: string; tradeNo?: string }): Promise<QueryTradeResult>;
  /** ACQ.TRADE_STATUS_ERROR may mean paid meanwhile (or already closed): query and reconcile. */
  closeTrade(args: { outTradeNo: string }): Promise<CloseTradeResult>;
  /** Money moved only when fundChange is true; otherwise confirm with queryRefund. Reuse outRequestNo on retry. */
  refund(args: { outTradeNo: string; refundAmountFen: number; outRequestNo: string; reason?: string }): Promise<RefundResult>;
  queryRefund(args: { outTradeNo: string; outRequestNo: string }): Promise<QueryRefundResult>;
  /** alipay.data.dataservice.bill.downloadurl.query; `date` is yyyy-MM-dd or yyyy-MM. The URL is valid about 30 s. */
  downloadBillUrl(date: string, type?: 'trade' | 'signcustomer'): Promise<BillUrlResult>;
}

export const fetchTransport: Transport = async (req) => {
  const res = await fetch(req.url, {
    method: 'POST',
    headers: req.headers,
    body: req.body,
    signal: AbortSignal.timeout(req.timeoutMs),
  });
  return { status: res.status, text: await res.text() };
};

function str(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

function requireStr(body: Record<string, unknown>, name: string, method: string): string {
  const v = str(body, name);
  if (v === undefined) throw new AlipayResponseError(`${method} response lacks "${name}"`);
  return v;
}

function amountOf(body: Record<string, unknown>, name: string, method: string): number {
  const v = requireStr(body, name, method);
  try {
    return amountToFen(v);
  } catch {
    throw new AlipayResponseError(`${method} response "${name}" is not an amount: ${JSON.stringify(v)}`);
  }
}

function businessError(body: Record<string, unknown>): BusinessError {
  const err: BusinessError = { kind: 'business-error', code: str(body, 'code') ?? '', msg: str(body, 'msg') ?? '' };
  const subCode = str(body, 'sub_code');
  const subMsg = str(body, 'sub_msg');
  if (subCode !== undefined) err.subCode = subCode;
  if (subMsg !== undefined) err.subMsg = subMsg;
  return err;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AlipayTransportError(`gateway timed out after ${ms} ms`, { timedOut: true })), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const isOk = (body: Record<string, unknown>): boolean => str(body, 'code') === '10000';

export function createAlipayClient(opts: AlipayClientOptions): AlipayClient {
  const signType = opts.signType ?? 'RSA2';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const transport = opts.transport ?? fetchTransport;
  const now = opts.now ?? (() => new Date());
  // charset goes in the query string so the gateway decodes the body as UTF-8.
  const url = `${opts.gatewayUrl}${opts.gatewayUrl.includes('?') ? '&' : '?'}charset=utf-8`;

  const certificates = opts.certificates;
  const certSns: CertSns | undefined = certificates && {
    appCertSn: certificates.appCertSn,
    alipayRootCertSn: certificates.alipayRootCertSn,
  };

  async function send(method: string, biz: Record<string, string>): Promise<string> {
    const signed = signApiRequest({ appId: opts.appId, method, privateKey: opts.privateKey, signType, timestamp: now(), biz, certSns });
    const { charset: _charset, ...bodyParams } = signed;
    let res: { status: number; text: string };
    try {
      res = await withTimeout(
        transport({
          url,
          body: encodeForm(bodyParams),
          headers: {
            'content-type': 'application/x-www-form-urlencoded;charset=utf-8',
            accept: 'application/json',
          },
          timeoutMs,
        }),
        timeoutMs,
      );
    } catch (err) {
      if (err instanceof AlipayTransportError) throw err;
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      const detail = errorText(err);
      throw new AlipayTransportError(`${method}: ${timedOut ? 'timed out' : 'request failed'}: ${detail}`, {
        timedOut,
        cause: err,
      });
    }
    if (res.status < 200 || res.status > 299) {
      throw new AlipayTransportError(`${method}: gateway answered HTTP ${res.status}`, { status: res.status });
    }
    return res.text;
  }

  // The download response is trusted through the certificate it carries (it must chain to the
  // root bundle); its signature is checked by the keyring once the signer is known.
  async function downloadCertificate(sn: string): Promise<DownloadedCert> {
    const method = CERT_DOWNLOAD_METHOD;
    const text = await send(method, { alipay_cert_sn: sn });
    const signed = extractSignedResponse(text, method);
    const body = JSON.parse(signed.content) as Record<string, unknown>;
    if (!isOk(body)) {
      const e = businessError(body);
      throw new AlipayResponseError(`${method} for ${sn} failed: ${e.code} ${e.subCode ?? ''} ${e.subMsg ?? e.msg}`, { rawText: text });
    }
    const content = requireStr(body, 'alipay_cert_content', method);
    const got: DownloadedCert = {
      pem: Buffer.from(content, 'base64').toString('utf8'),
      verifyWith: (key) => signed.sign !== undefined && verifySignature(signed.content, signed.sign, key, signType),
    };
    if (signed.certSn !== undefined) got.signedBySn = signed.certSn;
    return got;
  }

  async function call(method: string, biz: Record<string, string>): Promise<Record<string, unknown>> {
    const text = await send(method, biz);
    if (!certificates) return verifyResponse(text, method, opts.alipayPublicKey, signType);
    const signed = extractSignedResponse(text, method);
    // Unsigned answers (unknown app) are refused by verifyResponse without needing a key.
    const key = signed.sign === undefined ? opts.alipayPublicKey : await certificates.keyring.keyFor(signed.certSn, downloadCertificate);
    return verifyResponse(text, method, key, signType, signed);
  }

  return {
    async queryTrade({ outTradeNo, tradeNo }) {
      if (!outTradeNo && !tradeNo) throw new AlipayError('queryTrade needs outTradeNo or tradeNo');
      const method = 'alipay.trade.query';
      const biz: Record<string, string> = {};
      if (outTradeNo) biz['out_trade_no'] = outTradeNo;
      if (tradeNo) biz['trade_no'] = tradeNo;
      const body = await call(method, biz);
      if (!isOk(body)) {
        if (str(body, 'sub_code') === 'ACQ.TRADE_NOT_EXIST') return { kind: 'not-exist' };
        return businessError(body);
      }
      const status = requireStr(body, 'trade_status', method);
      if (!isTradeStatus(status)) throw new AlipayResponseError(`${method}: unknown trade_status "${status}"`);
      const result: QueryTradeResult = {
        kind: 'found',
        tradeStatus: status,
        tradeNo: requireStr(body, 'trade_no', method),
        outTradeNo: requireStr(body, 'out_trade_no', method),
        totalAmountFen: amountOf(body, 'total_amount', method),
      };
      const buyerLogonId = str(body, 'buyer_logon_id');
      if (buyerLogonId !== undefined) result.buyerLogonId = buyerLogonId;
      const sendPayDate = str(body, 'send_pay_date');
      if (sendPayDate !== undefined) {
        try {
          result.sendPayDate = parseAlipayTime(sendPayDate);
        } catch {
          throw new AlipayResponseError(`${method}: send_pay_date is not a time: ${sendPayDate}`);
        }
      }
      return result;
    },

    async closeTrade({ outTradeNo }) {
      const body = await call('alipay.trade.close', { out_trade_no: outTradeNo });
      if (isOk(body)) return { kind: 'closed' };
      const subCode = str(body, 'sub_code');
      if (subCode === 'ACQ.TRADE_NOT_EXIST') return { kind: 'not-exist' };
      if (subCode === 'ACQ.TRADE_STATUS_ERROR') return { kind: 'status-error' };
      return businessError(body);
    },

    async refund({ outTradeNo, refundAmountFen, outRequestNo, reason }) {
      const method = 'alipay.trade.refund';
      const biz: Record<string, string> = {
        out_trade_no: outTradeNo,
        refund_amount: fenToAmount(refundAmountFen),
        out_request_no: outRequestNo,
      };
      if (reason) biz['refund_reason'] = reason;
      const body = await call(method, biz);
      if (!isOk(body)) return businessError(body);
      return {
        kind: 'refunded',
        fundChange: str(body, 'fund_change') === 'Y',
        refundFeeFen: amountOf(body, 'refund_fee', method),
        tradeNo: requireStr(body, 'trade_no', method),
      };
    },

    async queryRefund({ outTradeNo, outRequestNo }) {
      const method = 'alipay.trade.fastpay.refund.query';
      const body = await call(method, { out_trade_no: outTradeNo, out_request_no: outRequestNo });
      if (!isOk(body)) {
        if (str(body, 'sub_code') === 'ACQ.TRADE_NOT_EXIST') return { kind: 'not-found' };
        return businessError(body);
      }
      if (str(body, 'refund_amount') === undefined) return { kind: 'not-found' };
      const refundAmountFen = amountOf(body, 'refund_amount', method);
      const refundStatus = str(body, 'refund_status');
      if (refundStatus === undefined || refundStatus === 'REFUND_SUCCESS') return { kind: 'done', refundAmountFen };
      return { kind: 'pending', refundAmountFen, refundStatus };
    },

    async downloadBillUrl(date, type = 'trade') {
      const method = 'alipay.data.dataservice.bill.downloadurl.query';
      if (!/^\d{4}-\d{2}(-\d{2})?$/.test(date)) throw new AlipayError(`downloadBillUrl: bill_date must be yyyy-MM-dd or yyyy-MM, got ${JSON.stringify(date)}`);
      const body = await call(method, { bill_type: type, bill_date: date });
      if (!isOk(body)) {
        const subCode = str(body, 'sub_code');
        // In practice isp.bill_not_exist; some docs say BILL_NOT_EXIST: accept both.
        if (subCode !== undefined && subCode.toLowerCase().replace(/^isp\./, '') === 'bill_not_exist') {
          const subMsg = str(body, 'sub_msg');
          return subMsg === undefined ? { kind: 'no-bill', subCode } : { kind: 'no-bill', subCode, subMsg };
        }
        return businessError(body);
      }
      const url = requireStr(body, 'bill_download_url', method);
      if (!/^https?:\/\//i.test(url)) throw new AlipayResponseError(`${method}: bill_download_url is not an http(s) URL`);
      return { kind: 'url', url };
    },
  };
}
