import type { KeyObject } from 'node:crypto';
import {
  AlipayNotificationError,
  buildPagePayForm,
  buildPagePayParams,
  buildPagePayUrl,
  createAlipayClient,
  verifyNotification,
  verifyReturn,
  type AlipayCertKeyring,
  type CertSns,
  type SignType,
  type TradeNotification,
  type TradeStatus,
  type Transport,
} from '../alipay/index.js';
import { observedClient, type AlipayCallObserver } from './observed-client.js';
import { downloadBill, openTradeBill, type BillDownloadOptions, type TradeBill, type TradeBillStream } from '../alipay/bill.js';
import { storableText } from '../shop/payments/audit.js';
import { PaymentProviderError, type PaymentProvider, type PaymentReport } from '../shop/payments/port.js';
import type { BillEntry, BillSource } from '../shop/payments/reconciliation.js';

export interface AlipaySettings {
  appId: string;
  sellerId?: string;
  gatewayUrl: string;
  signType: SignType;
  appPrivateKey: KeyObject;
  alipayPublicKey: KeyObject;
  pagePayMethod: 'GET' | 'POST';
  /** Injected in tests; defaults to fetch. */
  transport?: Transport;
  /**
   * Public-key certificate mode: the SNs every request carries and the Alipay certificates
   * (configured + downloaded on rotation). `alipayPublicKey` is the configured certificate's key.
   */
  certificates?: CertSns & { keyring: AlipayCertKeyring };
  /** Bound on every OpenAPI call (default 10 s): pages that ask Alipay never wait longer. */
  timeoutMs?: number;
  /** Hears every OpenAPI call (metrics). */
  onApiCall?: AlipayCallObserver;
  /** The clock requests are signed with (tests); default the system clock. */
  now?: () => Date;
  /** Size and time limits of the bill download. */
  billDownload?: BillDownloadOptions;
}

export type PaymentStart = { kind: 'redirect'; url: string } | { kind: 'form'; html: string };

/** Alipay as the shop's payment provider, plus what the web layer needs to send buyers there and read what comes back. */
export interface AlipayPayments extends PaymentProvider, BillSource {
  /** Origins the buyer's browser is sent through, for the CSP form-action directive. */
  formActionSources: string[];
  startPayment(
    order: { outTradeNo: string; totalFen: number; subject: string; expiresAt: Date },
    opts: { mobile: boolean; nonce?: string },
  ): PaymentStart;
  /** Verifies a raw notification body; throws AlipayNotificationError when it cannot be trusted. */
  readNotification(rawBody: Buffer): { notification: TradeNotification; report: PaymentReport };
  /** Verifies the return_url query string; throws when it cannot be trusted. */
  readReturn(queryString: string): { outTradeNo: string };
}

function stateOf(status: TradeStatus): PaymentReport['state'] {
  if (status === 'TRADE_SUCCESS' || status === 'TRADE_FINISHED') return 'paid';
  return status === 'TRADE_CLOSED' ? 'closed' : 'waiting';
}

export function notificationToReport(n: TradeNotification, raw: string): PaymentReport {
  const refund = n.refundFeeFen !== undefined || n.gmtRefund !== undefined;
  return {
    source: 'NOTIFY',
    outTradeNo: n.outTradeNo,
    appId: n.appId,
    sellerId: n.sellerId,
    tradeNo: n.tradeNo,
    amountFen: n.totalAmountFen,
    state: stateOf(n.tradeStatus),
    buyerLogonId: n.buyerLogonId,
    paidAt: n.gmtPayment,
    closedAt: n.gmtClose,
    refund: refund ? { refundedFen: n.refundFeeFen ?? 0, at: n.gmtRefund ?? new Date() } : undefined,
    notifyId: n.notifyId,
    tradeStatus: n.tradeStatus,
    raw,
  };
}

// Browsers apply form-action to every redirect after a form submission, and Alipay's gateway
// forwards the buyer on to its cashier hosts (excashier…, mclient…): allow Alipay's domains too.
function formActionSources(gatewayUrl: string): string[] {
  const { origin, hostname } = new URL(gatewayUrl);
  const alipayHosts = /(^|\.)alipay(dev)?\.com$/.test(hostname) ? ['https://*.alipay.com', 'https://*.alipaydev.com'] : [];
  return [origin, ...alipayHosts];
}

/** The configured ALIPAY_SIGN_TYPE is the only one accepted: an RSA2 app never trusts a SHA-1 (`RSA`) signature. */
function assertSignType(fields: Record<string, string>, expected: SignType) {
  const declared = fields['sign_type'] || 'RSA2';
  if (declared !== expected) {
    throw new AlipayNotificationError('unsupported-sign-type', `sign_type ${declared} is not the configured ALIPAY_SIGN_TYPE ${expected}`, { field: 'sign_type' });
  }
}

export function createAlipayPayments(settings: AlipaySettings, publicBaseUrl: string): AlipayPayments {
  const plainClient = createAlipayClient({
    gatewayUrl: settings.gatewayUrl,
    appId: settings.appId,
    privateKey: settings.appPrivateKey,
    alipayPublicKey: settings.alipayPublicKey,
    signType: settings.signType,
    transport: settings.transport,
    certificates: settings.certificates,
    timeoutMs: settings.timeoutMs,
    now: settings.now,
  });
  const client = settings.onApiCall ? observedClient(plainClient, settings.onApiCall) : plainClient;
  const certSns: CertSns | undefined = settings.certificates && {
    appCertSn: settings.certificates.appCertSn,
    alipayRootCertSn: settings.certificates.alipayRootCertSn,
  };
  // Certificate mode: during a rotation Alipay may sign with the new certificate's key.
  function verifyWithKnownKeys<T>(verify: (key: KeyObject) => T): T {
    const keys = settings.certificates ? settings.certificates.keyring.knownKeys() : [settings.alipayPublicKey];
    let first: unknown;
    for (const key of keys) {
      try {
        return verify(key);
      } catch (err) {
        if (!(err instanceof AlipayNotificationError) || err.reason !== 'bad-signature') throw err;
        first ??= err;
      }
    }
    throw first;
  }
  const businessError = (method: string, r: { code: string; subCode?: string; subMsg?: string; msg: string }) =>
    new PaymentProviderError(`${method} failed: ${r.code} ${r.subCode ?? ''} ${r.subMsg ?? r.msg}`);

  return {
    merchant: { appId: settings.appId, sellerId: settings.sellerId },
    formActionSources: formActionSources(settings.gatewayUrl),
    async lookup(outTradeNo) {
      const result = await client.queryTrade({ outTradeNo });
      if (result.kind === 'not-exist') return null;
      if (result.kind === 'business-error') {
        throw businessError('alipay.trade.query', result);
      }
      // A signed answer about another trade (a proxy or cache mixing answers up) must not touch this order.
      if (result.outTradeNo !== outTradeNo) {
        throw new PaymentProviderError(`alipay.trade.query answered about out_trade_no ${result.outTradeNo}, not ${outTradeNo}`);
      }
      // TRADE_CLOSED after a payment (send_pay_date set) means fully refunded, not "never paid".
      const refunded = result.tradeStatus === 'TRADE_CLOSED' && result.sendPayDate !== undefined;
      return {
        source: 'QUERY',
        outTradeNo: result.outTradeNo,
        tradeNo: result.tradeNo,
        amountFen: result.totalAmountFen,
        state: refunded ? 'paid' : stateOf(result.tradeStatus),
        refund: refunded ? { refundedFen: result.totalAmountFen, at: new Date() } : undefined,
        buyerLogonId: result.buyerLogonId,
        paidAt: result.sendPayDate,
        tradeStatus: result.tradeStatus,
        raw: JSON.stringify(result),
      };
    },
    async close(outTradeNo) {
      const result = await client.closeTrade({ outTradeNo });
      if (result.kind === 'closed') return 'closed';
      if (result.kind === 'not-exist') return 'not-found';
      if (result.kind === 'status-error') return 'busy';
      throw businessError('alipay.trade.close', result);
    },
    async tradeBill(date) {
      const method = 'alipay.data.dataservice.bill.downloadurl.query';
      const answer = await client.downloadBillUrl(date, 'trade');
      if (answer.kind === 'no-bill') return { kind: 'not-ready', reason: `no bill for ${date} yet (${answer.subCode}${answer.subMsg ? ` ${answer.subMsg}` : ''})` };
      if (answer.kind === 'business-error') throw businessError(method, answer);
      // The URL came in the verified answer; downloadBill fetches only from its host.
      const bill = openTradeBill(await downloadBill(answer.url, settings.billDownload));
      if (settings.sellerId && bill.account !== `${settings.sellerId}0156`) {
        throw new PaymentProviderError(`the bill for ${date} is for account ${bill.account}, not ${settings.sellerId}0156`);
      }
      return { kind: 'bill', entries: billEntryStream(bill) };
    },
    async refund({ outTradeNo, outRequestNo, amountFen, reason }) {
      const result = await client.refund({ outTradeNo, outRequestNo, refundAmountFen: amountFen, reason: reason?.slice(0, 256) });
      if (result.kind === 'refunded') {
        // fund_change=N: this call moved no money (e.g. the same out_request_no again); refund_fee is the trade's total refunded.
        return { outcome: 'refunded', moved: result.fundChange, refundedFen: result.refundFeeFen, tradeNo: result.tradeNo };
      }
      // ACQ.SYSTEM_ERROR (or code 20000): Alipay's "unknown, send the same request again".
      const retry = result.subCode === 'ACQ.SYSTEM_ERROR' || result.code === '20000';
      return { outcome: 'refused', reason: `${result.subCode ?? result.code} ${result.subMsg ?? result.msg}`.trim(), retry };
    },
    async queryRefund({ outTradeNo, outRequestNo }) {
      const result = await client.queryRefund({ outTradeNo, outRequestNo });
      if (result.kind === 'done') return { outcome: 'done', amountFen: result.refundAmountFen };
      if (result.kind === 'pending') return { outcome: 'pending', detail: result.refundStatus };
      if (result.kind === 'not-found') return { outcome: 'not-found' };
      throw businessError('alipay.trade.fastpay.refund.query', result);
    },
    startPayment(order, opts) {
      const params = buildPagePayParams({
        appId: settings.appId,
        privateKey: settings.appPrivateKey,
        signType: settings.signType,
        kind: opts.mobile ? 'wap' : 'page',
        outTradeNo: order.outTradeNo,
        totalAmountFen: order.totalFen,
        subject: order.subject,
        timeExpire: order.expiresAt,
        notifyUrl: `${publicBaseUrl}/alipay/notify`,
        returnUrl: `${publicBaseUrl}/alipay/return`,
        certSns,
      });
      return settings.pagePayMethod === 'POST'
        ? { kind: 'form', html: buildPagePayForm(settings.gatewayUrl, params, { nonce: opts.nonce }) }
        : { kind: 'redirect', url: buildPagePayUrl(settings.gatewayUrl, params) };
    },
    readNotification(rawBody) {
      const notification = verifyWithKnownKeys((key) => verifyNotification(rawBody, key));
      assertSignType(notification.fields, settings.signType);
      return { notification, report: notificationToReport(notification, rawText(rawBody)) };
    },
    readReturn(queryString) {
      const verified = verifyWithKnownKeys((key) => verifyReturn(queryString, key));
      assertSignType(verified.fields, settings.signType);
      return { outTradeNo: verified.outTradeNo };
    },
  };
}

const billSource = (fileName: string) => `bill ${fileName.replace(/[^\x20-\x7e]+/g, '').replace(/_+\.csv$/, '')}`;

function billEntry(r: TradeBill['records'][number], source: string): BillEntry {
  const entry: BillEntry = {
    kind: r.kind,
    outTradeNo: r.outTradeNo,
    tradeNo: r.tradeNo,
    amountFen: Math.abs(r.orderAmountFen),
    at: r.finishedAt,
    raw: `${source} line ${r.line}`,
  };
  if (r.outRequestNo !== undefined) entry.outRequestNo = r.outRequestNo;
  return entry;
}

/** The bill's entries as they are parsed (a malformed file throws while they are read). */
export function* billEntryStream(bill: TradeBillStream): Generator<BillEntry, void, undefined> {
  const source = billSource(bill.fileName);
  for (const r of bill.records) yield billEntry(r, source);
}

/** A raw request body as text for the audit trail (form bodies are ASCII; anything else is kept byte for byte as latin1). */
export function rawText(body: Buffer): string {
  return storableText(body.toString('latin1'), Infinity);
}
