import { randomBytes } from 'node:crypto';
import { fenToAmount, formatAlipayTime } from '../alipay/index.js';
import type { Db } from '../db/client.js';
import { Prisma, type SandboxRefund, type SandboxTrade } from '../generated/prisma/client.js';
import { generateAlipayUserId } from './keys.js';
import { businessError, GatewayError, type PagePayMethod } from './protocol.js';
import { fenFromDb } from '../lib/money.js';
import { randomDigits } from '../lib/random-digits.js';

export type { SandboxRefund, SandboxTrade };

export interface TradeContext {
  db: Db;
  appId: string;
  sellerId: string;
  now: () => Date;
}

export interface PagePayRequest {
  method: PagePayMethod;
  productCode: string;
  outTradeNo: string;
  totalFen: number;
  subject: string;
  body?: string | undefined;
  passbackParams?: string | undefined;
  notifyUrl?: string | undefined;
  returnUrl?: string | undefined;
  expiresAt: Date;
}

export const tradeNotExist = (): GatewayError => businessError('ACQ.TRADE_NOT_EXIST', '交易不存在');
export const tradeStatusError = (): GatewayError => businessError('ACQ.TRADE_STATUS_ERROR', '交易状态不合法');

/** 28 digits like Alipay's: yyyyMMdd (Beijing) + 22001 + 15 digits. */
export function generateTradeNo(now: Date): string {
  return formatAlipayTime(now).slice(0, 10).replaceAll('-', '') + '22001' + randomDigits(15);
}

export function generateNotifyId(): string {
  return randomBytes(17).toString('hex');
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002';
}

/** Trades past time_expire read as TRADE_CLOSED (closed lazily, the first time anyone looks). */
export async function expireIfDue(ctx: TradeContext, trade: SandboxTrade): Promise<SandboxTrade> {
  if (trade.status !== 'WAIT_BUYER_PAY' || trade.expiresAt.getTime() > ctx.now().getTime()) return trade;
  await ctx.db.sandboxTrade.updateMany({
    where: { id: trade.id, status: 'WAIT_BUYER_PAY' },
    data: { status: 'TRADE_CLOSED', closedAt: trade.expiresAt },
  });
  return ctx.db.sandboxTrade.findUniqueOrThrow({ where: { id: trade.id } });
}

export async function findTrade(
  ctx: TradeContext,
  by: { outTradeNo?: string | undefined; tradeNo?: string | undefined },
): Promise<SandboxTrade | undefined> {
  let trade: SandboxTrade | null = null;
  if (by.tradeNo) trade = await ctx.db.sandboxTrade.findUnique({ where: { tradeNo: by.tradeNo } });
  else if (by.outTradeNo) {
    trade = await ctx.db.sandboxTrade.findUnique({ where: { appId_outTradeNo: { appId: ctx.appId, outTradeNo: by.outTradeNo } } });
  }
  if (!trade || trade.appId !== ctx.appId) return undefined;
  if (by.tradeNo && by.outTradeNo && trade.outTradeNo !== by.outTradeNo) return undefined;
  return expireIfDue(ctx, trade);
}

export async function findTradeByCashierId(ctx: TradeContext, cashierId: string): Promise<SandboxTrade | undefined> {
  const trade = await ctx.db.sandboxTrade.findUnique({ where: { cashierId } });
  return trade ? expireIfDue(ctx, trade) : undefined;
}

/**
 * Page/wap pay: creates the trade, or resumes it when the same out_trade_no comes again with the
 * same amount and subject. A paid or closed trade, or changed details, are refused like Alipay.
 */
export async function openTrade(ctx: TradeContext, req: PagePayRequest): Promise<SandboxTrade> {
  for (let tries = 0; tries < 2; tries++) {
    const existing = await findTrade(ctx, { outTradeNo: req.outTradeNo });
    if (existing) {
      if (existing.status === 'TRADE_SUCCESS' || existing.status === 'TRADE_FINISHED') {
        throw businessError('ACQ.TRADE_HAS_SUCCESS', '交易已被支付 (this trade has already been paid)');
      }
      if (existing.status === 'TRADE_CLOSED') throw businessError('ACQ.TRADE_HAS_CLOSE', '交易已经关闭 (this trade is closed)');
      if (fenFromDb(existing.totalFen) !== req.totalFen || existing.subject !== req.subject) {
        throw businessError(
          'ACQ.CONTEXT_INCONSISTENT',
          '交易信息被篡改 (a trade with this out_trade_no exists with a different total_amount or subject)',
        );
      }
      return ctx.db.sandboxTrade.update({
        where: { id: existing.id },
        data: { notifyUrl: req.notifyUrl ?? null, returnUrl: req.returnUrl ?? null },
      });
    }
    const now = ctx.now();
    try {
      return await ctx.db.sandboxTrade.create({
        data: {
          cashierId: randomBytes(18).toString('base64url'),
          appId: ctx.appId,
          method: req.method,
          productCode: req.productCode,
          outTradeNo: req.outTradeNo,
          tradeNo: generateTradeNo(now),
          totalFen: BigInt(req.totalFen),
          subject: req.subject,
          body: req.body ?? null,
          passbackParams: req.passbackParams ?? null,
          notifyUrl: req.notifyUrl ?? null,
          returnUrl: req.returnUrl ?? null,
          expiresAt: req.expiresAt,
          createdAt: now,
        },
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err; // a concurrent request created it: resume that one
    }
  }
  throw new Error('sandbox: could not create or resume the trade');
}


/** Integer fen (bigint columns) → Alipay's "12.30". */
export function amount(fen: bigint | number): string {
  return fenToAmount(typeof fen === 'bigint' ? fenFromDb(fen) : fen);
}

/** trade_status_sync fields shared by payment and refund notifications (no notify_time/sign). */
function baseNotificationFields(ctx: TradeContext, trade: SandboxTrade, notifyId: string): Record<string, string> {
  const total = amount(trade.totalFen);
  const fields: Record<string, string> = {
    notify_type: 'trade_status_sync',
    notify_id: notifyId,
    app_id: ctx.appId,
    auth_app_id: ctx.appId,
    charset: 'utf-8',
    version: '1.0',
    trade_no: trade.tradeNo,
    out_trade_no: trade.outTradeNo,
    buyer_id: trade.buyerId ?? '',
    buyer_logon_id: trade.buyerLogonId ?? '',
    seller_id: ctx.sellerId,
    seller_email: sellerEmail(ctx.sellerId),
    trade_status: trade.status,
    total_amount: total,
    receipt_amount: total,
    invoice_amount: total,
    buyer_pay_amount: total,
    point_amount: '0.00',
    subject: trade.subject,
    gmt_create: formatAlipayTime(trade.createdAt),
    gmt_payment: trade.paidAt ? formatAlipayTime(trade.paidAt) : '',
    fund_bill_list: JSON.stringify([{ amount: total, fundChannel: 'ALIPAYACCOUNT' }]),
  };
  if (trade.body) fields['body'] = trade.body;
  if (trade.passbackParams) fields['passback_params'] = trade.passbackParams;
  return fields;
}

export function sellerEmail(sellerId: string): string {
  return `sandbox_${sellerId.slice(-6)}@sandbox.com`;
}

export type PayOutcome =
  | { kind: 'paid'; trade: SandboxTrade; notificationId?: number }
  | { kind: 'already-paid'; trade: SandboxTrade }
  | { kind: 'expired'; trade: SandboxTrade }
  | { kind: 'closed'; trade: SandboxTrade };

/** The buyer pays at the cashier: WAIT_BUYER_PAY → TRADE_SUCCESS once, and the notification is queued with it. */
export async function payTrade(ctx: TradeContext, cashierId: string): Promise<PayOutcome | undefined> {
  const current = await findTradeByCashierId(ctx, cashierId);
  if (!current) return undefined;
  const now = ctx.now();
  const result = await ctx.db.$transaction(async (tx) => {
    const { count } = await tx.sandboxTrade.updateMany({
      where: { id: current.id, status: 'WAIT_BUYER_PAY', expiresAt: { gt: now } },
      data: {
        status: 'TRADE_SUCCESS',
        paidAt: now,
        buyerId: generateAlipayUserId(),
        buyerLogonId: 'san***@sandbox.com',
      },
    });
    const trade = await tx.sandboxTrade.findUniqueOrThrow({ where: { id: current.id } });
    if (count !== 1) return { trade, paid: false };
    let notificationId: number | undefined;
    if (trade.notifyUrl) {
      const notifyId = generateNotifyId();
      const n = await tx.sandboxNotification.create({
        data: {
          tradeId: trade.id,
          notifyId,
          kind: 'payment',
          url: trade.notifyUrl,
          fields: baseNotificationFields(ctx, trade, notifyId),
          nextAttemptAt: now,
          createdAt: now,
        },
      });
      notificationId = n.id;
    }
    return { trade, paid: true, notificationId };
  });
  if (result.paid) {
    return result.notificationId === undefined
      ? { kind: 'paid', trade: result.trade }
      : { kind: 'paid', trade: result.trade, notificationId: result.notificationId };
  }
  const trade = await expireIfDue(ctx, result.trade);
  if (trade.status === 'TRADE_SUCCESS' || trade.status === 'TRADE_FINISHED') return { kind: 'already-paid', trade };
  if (trade.closedAt && trade.closedAt.getTime() === trade.expiresAt.getTime()) return { kind: 'expired', trade };
  return { kind: 'closed', trade };
}

/** alipay.trade.close: only an unpaid trade can be closed; no notification (Alipay sends none). */
export async function closeTrade(ctx: TradeContext, trade: SandboxTrade): Promise<SandboxTrade> {
  const { count } = await ctx.db.sandboxTrade.updateMany({
    where: { id: trade.id, status: 'WAIT_BUYER_PAY' },
    data: { status: 'TRADE_CLOSED', closedAt: ctx.now() },
  });
  if (count !== 1) throw tradeStatusError();
  return ctx.db.sandboxTrade.findUniqueOrThrow({ where: { id: trade.id } });
}

export interface RefundOutcome {
  trade: SandboxTrade;
  refund: SandboxRefund;
  /** false when this out_request_no had already been refunded (a replay). */
  fundChange: boolean;
  notificationId?: number;
}

/**
 * alipay.trade.refund: idempotent per out_request_no; cumulative refunds never exceed the total;
 * a full refund closes the trade. Each new refund queues a trade_status_sync notification.
 */
export async function refundTrade(
  ctx: TradeContext,
  tradeId: number,
  req: { outRequestNo: string; refundFen: number; reason?: string | undefined },
): Promise<RefundOutcome> {
  const result = await ctx.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM sandbox_trades WHERE id = ${tradeId} FOR UPDATE`;
    const trade = await tx.sandboxTrade.findUniqueOrThrow({ where: { id: tradeId } });
    const previous = await tx.sandboxRefund.findUnique({
      where: { tradeId_outRequestNo: { tradeId, outRequestNo: req.outRequestNo } },
    });
    if (previous) {
      if (fenFromDb(previous.refundFen) !== req.refundFen) {
        throw businessError(
          'ACQ.CONTEXT_INCONSISTENT',
          '参数不一致 (this out_request_no was already used for a refund of a different amount)',
        );
      }
      return { trade, refund: previous, fundChange: false };
    }
    if (trade.status === 'WAIT_BUYER_PAY') throw tradeStatusError();
    if (trade.status === 'TRADE_FINISHED') throw businessError('ACQ.TRADE_HAS_FINISHED', '交易已完结');
    if (trade.status === 'TRADE_CLOSED') {
      throw trade.refundedFen === trade.totalFen
        ? businessError('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', '退款金额超限 (the trade has been fully refunded)')
        : businessError('ACQ.TRADE_HAS_CLOSE', '交易已经关闭');
    }
    const refunded = trade.refundedFen + BigInt(req.refundFen);
    if (refunded > trade.totalFen) {
      throw businessError(
        'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL',
        `退款金额超限 (refunds would total ${amount(refunded)}, more than the trade's ${amount(trade.totalFen)})`,
      );
    }
    const now = ctx.now();
    const full = refunded === trade.totalFen;
    const refund = await tx.sandboxRefund.create({
      data: { tradeId, outRequestNo: req.outRequestNo, refundFen: BigInt(req.refundFen), reason: req.reason ?? null, createdAt: now },
    });
    const updated = await tx.sandboxTrade.update({
      where: { id: tradeId },
      data: { refundedFen: refunded, ...(full ? { status: 'TRADE_CLOSED', closedAt: now } : {}) },
    });
    let notificationId: number | undefined;
    if (updated.notifyUrl) {
      const notifyId = generateNotifyId();
      const fields = baseNotificationFields(ctx, updated, notifyId);
      fields['refund_fee'] = amount(refunded);
      fields['gmt_refund'] = formatAlipayTime(now);
      fields['out_biz_no'] = req.outRequestNo;
      fields['fund_bill_list'] = JSON.stringify([{ amount: amount(req.refundFen), fundChannel: 'ALIPAYACCOUNT' }]);
      if (full) fields['gmt_close'] = formatAlipayTime(now);
      const n = await tx.sandboxNotification.create({
        data: { tradeId, notifyId, kind: 'refund', url: updated.notifyUrl, fields, nextAttemptAt: now, createdAt: now },
      });
      notificationId = n.id;
    }
    return { trade: updated, refund, fundChange: true, notificationId };
  });
  const { notificationId, ...rest } = result as RefundOutcome;
  return notificationId === undefined ? rest : { ...rest, notificationId };
}
