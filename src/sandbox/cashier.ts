import type { KeyObject } from 'node:crypto';
import type { Request, Response } from 'express';
import { formatAlipayTime, signReturnQuery } from '../alipay/index.js';
import type { Notifier } from './notifier.js';
import { amount, findTradeByCashierId, payTrade, type SandboxTrade, type TradeContext } from './trades.js';
import { beijing, returnOrigin, timeLeft, yuan, type Views } from './views.js';

export interface CashierDeps {
  ctx: TradeContext;
  alipayPrivateKey: KeyObject;
  notifier: Notifier;
  views: Views;
  /** The CSRF token of a form scope (`cashier:<id>`). */
  formToken: (scope: string) => string;
}

/** The buyer's side: the cashier page, Pay and Cancel. */
export function createCashier(deps: CashierDeps) {
  const { ctx, notifier, views } = deps;
  const { render, message } = views;

  function signedReturnUrl(trade: SandboxTrade): string | undefined {
    if (!trade.returnUrl) return undefined;
    const query = signReturnQuery(
      {
        method: `${trade.method}.return`,
        app_id: ctx.appId,
        auth_app_id: ctx.appId,
        charset: 'utf-8',
        out_trade_no: trade.outTradeNo,
        trade_no: trade.tradeNo,
        total_amount: amount(trade.totalFen),
        seller_id: ctx.sellerId,
        timestamp: formatAlipayTime(ctx.now()),
        version: '1.0',
      },
      deps.alipayPrivateKey,
      { charset: 'utf-8' },
    );
    return `${trade.returnUrl}${trade.returnUrl.includes('?') ? '&' : '?'}${query}`;
  }

  function notFound(res: Response): Promise<void> {
    res.status(404);
    return render(res, 'message', {
      title: 'Not found',
      heading: 'No such cashier session',
      lines: ['This payment link is unknown to the sandbox gateway.'],
      tone: 'error',
      outcome: 'not-found',
    }, 404);
  }

  function statusPage(res: Response, trade: SandboxTrade, outcome: 'already-paid' | 'expired' | 'closed'): Promise<void> {
    const back = returnOrigin(trade.returnUrl);
    if (outcome === 'already-paid') {
      const ret = signedReturnUrl(trade);
      return message(res, {
        title: 'Already paid',
        heading: '交易已被支付 — this trade has already been paid (ACQ.TRADE_HAS_SUCCESS)',
        lines: ['Nothing more to pay.'],
        tone: 'warning',
        outcome,
        trade,
        link: ret ? { href: ret, label: 'Back to the merchant' } : back ? { href: back, label: 'Back to the merchant' } : undefined,
      });
    }
    return message(res, {
      title: outcome === 'expired' ? 'Expired' : 'Closed',
      heading:
        outcome === 'expired'
          ? '交易已超时关闭 — the time to pay has expired; the trade is closed (ACQ.TRADE_HAS_CLOSE)'
          : '交易已经关闭 — this trade is closed (ACQ.TRADE_HAS_CLOSE)',
      lines: ['It can no longer be paid. Place the order again at the merchant.'],
      tone: 'error',
      outcome,
      trade,
      link: back ? { href: back, label: 'Back to the merchant' } : undefined,
    });
  }

  async function showCashier(req: Request, res: Response): Promise<void> {
    const cashierId = String(req.params['id']);
    const trade = await findTradeByCashierId(ctx, cashierId);
    if (!trade) return notFound(res);
    if (trade.status === 'TRADE_SUCCESS' || trade.status === 'TRADE_FINISHED') return statusPage(res, trade, 'already-paid');
    if (trade.status === 'TRADE_CLOSED') {
      return statusPage(res, trade, trade.closedAt?.getTime() === trade.expiresAt.getTime() ? 'expired' : 'closed');
    }
    await render(res, 'cashier', {
      title: 'Cashier',
      appId: ctx.appId,
      cashierId,
      csrfToken: deps.formToken(`cashier:${cashierId}`),
      script: 'cashier.js',
      trade: {
        subject: trade.subject,
        body: trade.body,
        amount: yuan(trade.totalFen),
        outTradeNo: trade.outTradeNo,
        tradeNo: trade.tradeNo,
        expiresAtText: beijing(trade.expiresAt),
        expiresAtIso: trade.expiresAt.toISOString(),
        timeLeft: timeLeft(trade.expiresAt.getTime() - ctx.now().getTime()),
      },
    });
  }

  async function pay(req: Request, res: Response): Promise<void> {
    const outcome = await payTrade(ctx, String(req.params['id']));
    if (!outcome) return notFound(res);
    if (outcome.kind !== 'paid') return statusPage(res, outcome.trade, outcome.kind);
    // The first notification attempt runs in the background: a slow shop must not hold the buyer.
    if (outcome.notificationId !== undefined) notifier.kick(outcome.notificationId);
    const ret = signedReturnUrl(outcome.trade);
    if (ret) return res.redirect(302, ret);
    await message(res, {
      title: 'Paid',
      heading: '支付成功 — Payment successful',
      lines: ['The merchant gave no return_url; you can close this page.'],
      tone: 'success',
      outcome: 'paid',
      trade: outcome.trade,
    });
  }

  async function cancel(req: Request, res: Response): Promise<void> {
    const trade = await findTradeByCashierId(ctx, String(req.params['id']));
    if (!trade) return notFound(res);
    const back = returnOrigin(trade.returnUrl);
    // Alipay has no cancel redirect: the trade stays WAIT_BUYER_PAY until it expires or is closed.
    await message(res, {
      title: 'Cancelled',
      heading: '已取消支付 — Payment cancelled',
      lines: ['Nothing was paid. You can close this page, or go back to the merchant.'],
      tone: 'warning',
      outcome: 'cancelled',
      trade,
      link: back ? { href: back, label: 'Back to the merchant' } : undefined,
    });
  }

  return { showCashier, pay, cancel };
}
