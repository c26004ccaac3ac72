import type { KeyObject } from 'node:crypto';
import type { Request, Response } from 'express';
import { buildSignedResponse, formatAlipayTime } from '../alipay/index.js';
import type { Notifier, SandboxLogger } from './notifier.js';
import type { PagePay } from './page-pay.js';
import {
  GatewayError,
  businessError,
  checkOutNo,
  checkSystemParams,
  invalidParameter,
  isApiMethod,
  isPagePayMethod,
  missingParameter,
  parseAmount,
  parseBizContent,
  parseGatewayRequest,
  successBody,
  type ApiMethod,
} from './protocol.js';
import type { SandboxBills } from './bill.js';
import { findRefund } from './trade-queries.js';
import { amount, closeTrade, findTrade, refundTrade, tradeNotExist, type SandboxTrade, type TradeContext } from './trades.js';
import type { Views } from './views.js';
import { CERT_DOWNLOAD_METHOD, checkCertSns, downloadAlipayCert, type SandboxCertMode } from './cert-mode.js';

export type { ApiMethod };
/** `origin` is the gateway's own origin as the caller reached it (for URLs in answers). */
export type Handler = (biz: Record<string, string>, request: { origin: string }) => Promise<Record<string, string>>;

export interface OpenApiDeps {
  ctx: TradeContext;
  appPublicKey: KeyObject;
  alipayPrivateKey: KeyObject;
  certMode?: SandboxCertMode | undefined;
  notifier: Notifier;
  bills: SandboxBills;
  pagePay: PagePay;
  views: Views;
  logger: SandboxLogger;
}

function tradeLookup(biz: Record<string, string>) {
  const outTradeNo = biz['out_trade_no'];
  const tradeNo = biz['trade_no'];
  if (!outTradeNo && !tradeNo) {
    throw businessError('ACQ.INVALID_PARAMETER', '参数无效 (out_trade_no or trade_no is required)');
  }
  return { outTradeNo, tradeNo };
}

const paid = (t: SandboxTrade) => t.paidAt !== null;

export function createApiMethods(deps: { ctx: TradeContext; notifier: Notifier; bills: SandboxBills; certMode?: SandboxCertMode | undefined }): Record<ApiMethod, Handler> {
  const { ctx, notifier, bills } = deps;

  async function requireTrade(biz: Record<string, string>): Promise<SandboxTrade> {
    const trade = await findTrade(ctx, tradeLookup(biz));
    if (!trade) throw tradeNotExist();
    return trade;
  }

  return {
    async 'alipay.trade.query'(biz) {
      const trade = await requireTrade(biz);
      const total = amount(trade.totalFen);
      return successBody({
        trade_no: trade.tradeNo,
        out_trade_no: trade.outTradeNo,
        buyer_logon_id: trade.buyerLogonId ?? undefined,
        buyer_user_id: trade.buyerId ?? undefined,
        trade_status: trade.status,
        total_amount: total,
        send_pay_date: trade.paidAt ? formatAlipayTime(trade.paidAt) : undefined,
        buyer_pay_amount: paid(trade) ? total : '0.00',
        point_amount: '0.00',
        invoice_amount: paid(trade) ? total : '0.00',
        receipt_amount: paid(trade) ? total : '0.00',
      });
    },

    async 'alipay.trade.close'(biz) {
      const trade = await closeTrade(ctx, await requireTrade(biz));
      return successBody({ trade_no: trade.tradeNo, out_trade_no: trade.outTradeNo });
    },

    async 'alipay.trade.refund'(biz) {
      const trade = await requireTrade(biz);
      const refundFen = parseAmount('refund_amount', biz['refund_amount']);
      const outRequestNo = checkOutNo('out_request_no', biz['out_request_no'] || trade.outTradeNo);
      const reason = biz['refund_reason'];
      if (reason !== undefined && reason.length > 256) throw invalidParameter('refund_reason', 'must be at most 256 characters');
      const outcome = await refundTrade(ctx, trade.id, { outRequestNo, refundFen, reason });
      if (outcome.notificationId !== undefined) notifier.kick(outcome.notificationId);
      return successBody({
        trade_no: outcome.trade.tradeNo,
        out_trade_no: outcome.trade.outTradeNo,
        buyer_logon_id: outcome.trade.buyerLogonId ?? undefined,
        buyer_user_id: outcome.trade.buyerId ?? undefined,
        fund_change: outcome.fundChange ? 'Y' : 'N',
        refund_fee: amount(outcome.trade.refundedFen),
        gmt_refund_pay: formatAlipayTime(outcome.refund.createdAt),
      });
    },

    async 'alipay.trade.fastpay.refund.query'(biz) {
      const lookup = tradeLookup(biz);
      const outRequestNo = biz['out_request_no'];
      if (!outRequestNo) throw missingParameter('out_request_no');
      const trade = await findTrade(ctx, lookup);
      if (!trade) throw tradeNotExist();
      const refund = await findRefund(ctx, trade.id, outRequestNo);
      // Alipay's way of saying "no such refund": success without refund_amount.
      if (!refund) return successBody({});
      return successBody({
        trade_no: trade.tradeNo,
        out_trade_no: trade.outTradeNo,
        out_request_no: outRequestNo,
        total_amount: amount(trade.totalFen),
        refund_amount: amount(refund.refundFen),
        refund_status: 'REFUND_SUCCESS',
        gmt_refund_pay: formatAlipayTime(refund.createdAt),
      });
    },

    async [CERT_DOWNLOAD_METHOD](biz) {
      return downloadAlipayCert(deps.certMode, biz);
    },
    'alipay.data.dataservice.bill.downloadurl.query': (biz, request) => bills.downloadUrlQuery(biz, request),
  };
}

/** gateway.do: checks the system parameters, then hands page pay to the cashier flow and the rest to the API table. */
export function createGatewayHandler(deps: OpenApiDeps) {
  const { ctx, views, logger, pagePay } = deps;
  const api = createApiMethods(deps);

  function sendApi(res: Response, method: string, body: Record<string, string>, flags: { error?: boolean; unsigned?: boolean } = {}): void {
    // Escaped slashes like Alipay's gateway; clients must verify the raw text, never re-serialised JSON.
    const text = buildSignedResponse(method, body, deps.alipayPrivateKey, {
      error: flags.error ?? false,
      omitSign: flags.unsigned ?? false,
      escapeSlashes: true,
      ...(deps.certMode && { certSn: deps.certMode.current().sn }),
    });
    // JSON rather than Alipay's text/html: the body can echo request text, which must not become markup.
    res.status(200).type('application/json; charset=utf-8').send(text);
  }

  return async function gateway(req: Request, res: Response): Promise<void> {
    const q = req.originalUrl.indexOf('?');
    const rawQuery = q < 0 ? '' : req.originalUrl.slice(q + 1);
    const body = req.method === 'POST' && Buffer.isBuffer(req.body) ? req.body : undefined;
    let method: string | undefined = new URLSearchParams(rawQuery).get('method') ?? undefined;
    try {
      const parsed = parseGatewayRequest(rawQuery, body);
      method = parsed.params['method'];
      checkSystemParams(parsed, { appId: ctx.appId, appPublicKey: deps.appPublicKey, now: ctx.now() });
      if (deps.certMode) checkCertSns(parsed.params, deps.certMode);
      if (isPagePayMethod(method)) return await pagePay(res, method, parsed.params);
      if (!isApiMethod(method)) throw new Error(`sandbox: checkSystemParams let through method ${String(method)}`);
      const biz = parseBizContent(parsed.params);
      sendApi(res, method, await api[method](biz, { origin: `${req.protocol}://${req.get('host') ?? 'localhost'}` }));
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      logger.warn({ method, subCode: err.subCode, subMsg: err.subMsg }, 'sandbox gateway refused a request');
      if (isPagePayMethod(method)) {
        await views.render(res, 'error', { title: 'Error', error: { ...err.toBody(), code: err.code, msg: err.msg, subCode: err.subCode, subMsg: err.subMsg, signString: err.signString }, method });
        return;
      }
      sendApi(res, method ?? 'error', err.toBody(), { error: err.errorEnvelope, unsigned: err.unsigned });
    }
  };
}
