import type { Response } from 'express';
import {
  GatewayError,
  PAGE_PAY_METHODS,
  checkOutNo,
  invalidParameter,
  missingParameter,
  parseAmount,
  parseBizContent,
  resolveExpiry,
  type PagePayMethod,
} from './protocol.js';
import { openTrade, type TradeContext } from './trades.js';

function checkUrl(name: string, value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new GatewayError('40002', 'isv.invalid-parameter', `${name} 不是合法的URL (${name} is not an absolute URL)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new GatewayError('40002', 'isv.invalid-parameter', `${name} 必须是http(s)地址 (${name} must be http or https)`);
  }
  return value;
}

/** alipay.trade.page.pay / wap.pay: opens (or resumes) the trade and sends the buyer to the cashier. */
export function createPagePay(deps: { ctx: TradeContext; basePath: string }) {
  const { ctx, basePath } = deps;

  return async function pagePay(res: Response, method: PagePayMethod, params: Record<string, string>): Promise<void> {
    const biz = parseBizContent(params);
    const outTradeNo = checkOutNo('out_trade_no', biz['out_trade_no']);
    const totalFen = parseAmount('total_amount', biz['total_amount']);
    const subject = biz['subject'];
    if (subject === undefined || subject.trim() === '') throw missingParameter('subject');
    if (subject.length > 256) throw invalidParameter('subject', 'must be at most 256 characters');
    const productCode = biz['product_code'];
    if (!productCode) throw missingParameter('product_code');
    if (productCode !== PAGE_PAY_METHODS[method]) {
      throw invalidParameter('product_code', `${method} needs product_code ${PAGE_PAY_METHODS[method]}, got ${productCode}`);
    }
    const body = biz['body'];
    if (body !== undefined && body.length > 128) throw invalidParameter('body', 'must be at most 128 characters');
    const trade = await openTrade(ctx, {
      method,
      productCode,
      outTradeNo,
      totalFen,
      subject,
      body,
      passbackParams: biz['passback_params'],
      notifyUrl: checkUrl('notify_url', params['notify_url']),
      returnUrl: checkUrl('return_url', params['return_url']),
      expiresAt: resolveExpiry(biz, ctx.now()),
    });
    res.redirect(302, `${basePath}/cashier/${trade.cashierId}`);
  };
}

export type PagePay = ReturnType<typeof createPagePay>;
