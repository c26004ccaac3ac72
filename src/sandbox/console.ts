import type { KeyObject } from 'node:crypto';
import type { Request, Response } from 'express';
import { publicKeyToBase64, publicKeyToPem } from '../alipay/index.js';
import { wantsJson } from '../lib/wants-json.js';
import type { Notifier } from './notifier.js';
import { GatewayError } from './protocol.js';
import { findLatestNotification, findTradeById, listTrades } from './trade-queries.js';
import { closeTrade, type TradeContext } from './trades.js';
import { beijing, yuan, type Views } from './views.js';
import { certModeInfo, type SandboxCertMode } from './cert-mode.js';

export interface ConsoleDeps {
  ctx: TradeContext;
  appPublicKey: KeyObject;
  alipayPublicKey: KeyObject;
  basePath: string;
  gatewayPath: string;
  notifier: Notifier;
  views: Views;
  certMode?: SandboxCertMode | undefined;
  formToken: (scope: string) => string;
  /** A public sandbox: never show what lets someone act on a shopper's order (its full out_trade_no, the cashier link). */
  masked: boolean;
}

function maskTradeNo(outTradeNo: string): string {
  return outTradeNo.length > 12 ? `${outTradeNo.slice(0, 8)}…${outTradeNo.slice(-4)}` : '…';
}

/** The developer's side: trades and their notification attempts, resend, fail next N, close, keys. */
export function createConsole(deps: ConsoleDeps) {
  const { ctx, basePath, gatewayPath, notifier } = deps;
  const { render } = deps.views;

  function gatewayUrl(req: Request): string {
    return `${req.protocol}://${req.get('host') ?? 'localhost'}${gatewayPath}`;
  }

  async function showConsole(req: Request, res: Response): Promise<void> {
    const trades = await listTrades(ctx);
    await render(res, 'console', {
      title: 'Console',
      csrfToken: deps.formToken('console'),
      appId: ctx.appId,
      sellerId: ctx.sellerId,
      gatewayUrl: gatewayUrl(req),
      forcedFailures: await notifier.forcedFailures(),
      trades: trades.map((t) => ({
        id: t.id,
        outTradeNo: deps.masked ? maskTradeNo(t.outTradeNo) : t.outTradeNo,
        tradeNo: t.tradeNo,
        subject: t.subject,
        amount: yuan(t.totalFen),
        refunded: t.refundedFen > 0n ? yuan(t.refundedFen) : '',
        status: t.status === 'WAIT_BUYER_PAY' && t.expiresAt.getTime() <= ctx.now().getTime() ? 'TRADE_CLOSED' : t.status,
        createdAt: beijing(t.createdAt),
        cashierHref: deps.masked ? '' : `${basePath}/cashier/${t.cashierId}`,
        notifications: t.notifications.map((n) => ({
          kind: n.kind,
          notifyId: n.notifyId,
          url: n.url,
          status: n.status,
          nextAttemptAt: n.status === 'PENDING' ? beijing(n.nextAttemptAt) : '',
          attempts: n.attempts.map((a) => ({
            attemptNo: a.attemptNo,
            attemptedAt: beijing(a.attemptedAt),
            trigger: a.trigger,
            ok: a.ok,
            result: a.ok ? `HTTP ${a.httpStatus ?? ''} success` : a.httpStatus !== null ? `HTTP ${a.httpStatus}` : (a.error ?? 'failed'),
            response: a.response ?? a.error ?? '',
          })),
        })),
      })),
    });
  }

  function consoleTradeId(req: Request): number | undefined {
    const id = Number(req.params['id']);
    return Number.isSafeInteger(id) && id > 0 ? id : undefined;
  }

  async function resend(req: Request, res: Response): Promise<void> {
    const id = consoleTradeId(req);
    const latest = id === undefined ? null : await findLatestNotification(ctx, id);
    if (latest) await notifier.resend(latest.id);
    res.redirect(303, `${basePath}/#trade-${id ?? ''}`);
  }

  async function closeFromConsole(req: Request, res: Response): Promise<void> {
    const id = consoleTradeId(req);
    const trade = id === undefined ? null : await findTradeById(ctx, id);
    if (trade) {
      try {
        await closeTrade(ctx, trade);
      } catch (err) {
        if (!(err instanceof GatewayError)) throw err;
      }
    }
    res.redirect(303, `${basePath}/#trade-${id ?? ''}`);
  }

  async function failNext(req: Request, res: Response): Promise<void> {
    const raw = (req.body as Record<string, unknown> | undefined)?.['n'];
    const n = Number(typeof raw === 'string' ? raw : NaN);
    if (Number.isSafeInteger(n) && n >= 0 && n <= 1000) await notifier.setForcedFailures(n);
    res.redirect(303, `${basePath}/`);
  }

  function keys(req: Request, res: Response): Promise<void> | void {
    const info = {
      gateway_url: gatewayUrl(req),
      app_id: ctx.appId,
      seller_id: ctx.sellerId,
      app_public_key: publicKeyToBase64(deps.appPublicKey),
      app_public_key_pem: publicKeyToPem(deps.appPublicKey),
      alipay_public_key: publicKeyToBase64(deps.alipayPublicKey),
      alipay_public_key_pem: publicKeyToPem(deps.alipayPublicKey),
      ...(deps.certMode && { cert_mode: certModeInfo(deps.certMode) }),
    };
    if (wantsJson(req)) {
      res.json(info);
      return;
    }
    return render(res, 'keys', { title: 'Keys', info, basePath, csrfToken: deps.formToken('console') });
  }

  return { showConsole, resend, closeFromConsole, failNext, keys };
}
