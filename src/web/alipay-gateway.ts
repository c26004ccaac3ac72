import type { KeyObject } from 'node:crypto';
import {
  buildPagePayForm,
  buildPagePayParams,
  buildPagePayUrl,
  createAlipayClient,
  verifyNotification,
  verifyReturn,
  type SignType,
  type TradeNotification,
  type TradeStatus,
  type Transport,
} from '../alipay/index.js';
import type { Merchant, PaymentReport } from '../shop/payments.js';
import type { PaymentProvider } from '../shop/reconcile.js';

export interface AlipaySettings {
  appId: string;
  sellerId?: string;
  gateway: string;
  signType: SignType;
  appPrivateKey: KeyObject;
  alipayPublicKey: KeyObject;
  pagePayMethod: 'GET' | 'POST';
  /** Injected in tests; defaults to fetch. */
  transport?: Transport;
}

export type PaymentStart = { kind: 'redirect'; url: string } | { kind: 'form'; html: string };

export interface AlipayGateway {
  merchant: Merchant;
  /** Origins the buyer's browser is sent through, for the CSP form-action directive. */
  formActionSources: string[];
  provider: PaymentProvider;
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
function formActionSources(gateway: string): string[] {
  const { origin, hostname } = new URL(gateway);
  const alipayHosts = /(^|\.)alipay(dev)?\.com$/.test(hostname) ? ['https://*.alipay.com', 'https://*.alipaydev.com'] : [];
  return [origin, ...alipayHosts];
}

export function createAlipayGateway(settings: AlipaySettings, publicBaseUrl: string): AlipayGateway {
  const client = createAlipayClient({
    gateway: settings.gateway,
    appId: settings.appId,
    privateKey: settings.appPrivateKey,
    alipayPublicKey: settings.alipayPublicKey,
    signType: settings.signType,
    transport: settings.transport,
  });
  const merchant: Merchant = { appId: settings.appId, sellerId: settings.sellerId };

  const provider: PaymentProvider = {
    async lookup(outTradeNo) {
      const result = await client.queryTrade({ outTradeNo });
      if (result.kind === 'not-exist') return null;
      if (result.kind === 'business-error') {
        throw new Error(`alipay.trade.query failed: ${result.code} ${result.subCode ?? ''} ${result.subMsg ?? result.msg}`);
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
      throw new Error(`alipay.trade.close failed: ${result.code} ${result.subCode ?? ''} ${result.subMsg ?? result.msg}`);
    },
  };

  return {
    merchant,
    formActionSources: formActionSources(settings.gateway),
    provider,
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
      });
      return settings.pagePayMethod === 'POST'
        ? { kind: 'form', html: buildPagePayForm(settings.gateway, params, { nonce: opts.nonce }) }
        : { kind: 'redirect', url: buildPagePayUrl(settings.gateway, params) };
    },
    readNotification(rawBody) {
      const notification = verifyNotification(rawBody, settings.alipayPublicKey);
      return { notification, report: notificationToReport(notification, rawText(rawBody)) };
    },
    readReturn(queryString) {
      return { outTradeNo: verifyReturn(queryString, settings.alipayPublicKey).outTradeNo };
    },
  };
}

/** A raw request body as storable text (form bodies are ASCII; PostgreSQL text cannot hold NUL). */
export function rawText(body: Buffer): string {
  return body.toString('latin1').replaceAll('\u0000', '\\0');
}
