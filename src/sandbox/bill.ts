import { createSign, createVerify, randomBytes, type KeyObject } from 'node:crypto';
import type { Request, Response } from 'express';
import { billBaseName, buildTradeBillZip, type BillRowInput } from '../alipay/bill-writer.js';
import { beijingDate, startOfBeijingDay } from '../lib/beijing-time.js';
import { fenFromDb } from '../lib/money.js';
import { randomDigits } from '../lib/random-digits.js';
import { generateAlipayUserId } from './keys.js';
import { GatewayError, businessError, invalidParameter, missingParameter, parseAmount, checkOutNo, successBody } from './protocol.js';
import { findTradeById } from './trade-queries.js';
import { amount, generateTradeNo, type TradeContext } from './trades.js';

// The sandbox's trade bill (对账单): alipay.data.dataservice.bill.downloadurl.query answers a
// short-lived signed download URL on the sandbox; the download builds the zip in Alipay's exact
// format from the sandbox's own trades and refunds.

/** Alipay's download URLs are valid about 30 s. */
export const BILL_URL_TTL_MS = 30_000;

export interface SandboxBillDeps {
  ctx: TradeContext;
  alipayPrivateKey: KeyObject;
  alipayPublicKey: KeyObject;
  basePath: string;
  /** SANDBOX_BILL_TODAY: today's bill (so far) is available, for tests and demos. */
  billToday: boolean;
}

const billNotExist = (): GatewayError => businessError('isp.bill_not_exist', '账单不存在 (no bill for this date yet: a day is ready the next morning)');

/** The rows of a Beijing day's trade bill: payments finished that day, refunds made that day. */
export async function sandboxBillRows(ctx: TradeContext, date: string, until?: Date): Promise<BillRowInput[]> {
  const start = startOfBeijingDay(new Date(`${date}T12:00:00+08:00`));
  const end = until ?? startOfBeijingDay(start, 1);
  const trades = await ctx.db.sandboxTrade.findMany({
    where: { appId: ctx.appId, paidAt: { gte: start, lt: end } },
    orderBy: [{ paidAt: 'asc' }, { id: 'asc' }],
  });
  const refunds = await ctx.db.sandboxRefund.findMany({
    where: { createdAt: { gte: start, lt: end }, trade: { appId: ctx.appId } },
    include: { trade: true },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  const rows: BillRowInput[] = trades.map((t) => ({
    kind: 'payment',
    tradeNo: t.tradeNo,
    outTradeNo: t.outTradeNo,
    subject: t.subject,
    createdAt: t.createdAt,
    finishedAt: t.paidAt!,
    amountFen: fenFromDb(t.totalFen),
    ...(t.buyerLogonId ? { buyerLogonId: t.buyerLogonId } : {}),
  }));
  for (const r of refunds) {
    rows.push({
      kind: 'refund',
      tradeNo: r.trade.tradeNo,
      outTradeNo: r.trade.outTradeNo,
      subject: r.trade.subject,
      createdAt: r.trade.createdAt,
      finishedAt: r.createdAt,
      amountFen: fenFromDb(r.refundFen),
      outRequestNo: r.outRequestNo,
      ...(r.trade.buyerLogonId ? { buyerLogonId: r.trade.buyerLogonId } : {}),
    });
  }
  return rows;
}

function signToken(key: KeyObject, payload: string): string {
  return createSign('RSA-SHA256').update(payload).sign(key).toString('base64url');
}

export function createSandboxBills(deps: SandboxBillDeps) {
  const { ctx, basePath } = deps;

  /** Today's date (Beijing) or a past one; anything else is "no bill yet". */
  function checkDate(date: string): void {
    const today = beijingDate(ctx.now());
    if (date > today || (date === today && !deps.billToday)) throw billNotExist();
  }

  async function downloadUrlQuery(biz: Record<string, string>, req: { origin: string }): Promise<Record<string, string>> {
    const type = biz['bill_type'];
    const date = biz['bill_date'];
    if (!type) throw missingParameter('bill_type');
    if (!date) throw missingParameter('bill_date');
    if (type !== 'trade' && type !== 'signcustomer') throw invalidParameter('bill_type', 'must be trade or signcustomer');
    if (type !== 'trade') throw invalidParameter('bill_type', 'the sandbox makes trade bills only');
    if (/^\d{4}-\d{2}$/.test(date)) throw invalidParameter('bill_date', 'the sandbox makes day bills only (yyyy-MM-dd)');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || new Date(`${date}T00:00:00Z`).toISOString().slice(0, 10) !== date) {
      throw invalidParameter('bill_date', 'must be yyyy-MM-dd or yyyy-MM');
    }
    checkDate(date);
    const expires = ctx.now().getTime() + BILL_URL_TTL_MS;
    const payload = `${ctx.appId}|${date}|${expires}`;
    const query = new URLSearchParams({
      bizType: 'trade',
      bizDates: date.replaceAll('-', ''),
      downloadFileName: `${billBaseName(ctx.sellerId, date)}.csv.zip`,
      expires: String(expires),
      token: signToken(deps.alipayPrivateKey, payload),
    });
    return successBody({ bill_download_url: `${req.origin}${basePath}/downloadBillFile.resource?${query.toString()}` });
  }

  async function sendBill(res: Response, date: string): Promise<void> {
    const today = beijingDate(ctx.now());
    const rows = await sandboxBillRows(ctx, date, date === today ? ctx.now() : undefined);
    const zip = buildTradeBillZip({ sellerId: ctx.sellerId, date, rows, exportedAt: ctx.now() });
    res
      .status(200)
      .type('application/octet-stream')
      .set('Content-Disposition', `attachment; filename="${billBaseName(ctx.sellerId, date)}.csv.zip"`)
      .set('Cache-Control', 'no-store')
      .send(Buffer.from(zip));
  }

  /** GET downloadBillFile.resource: only with a valid, unexpired token from the API answer. */
  async function download(req: Request, res: Response): Promise<void> {
    const q = req.query as Record<string, unknown>;
    const bizDates = typeof q['bizDates'] === 'string' ? q['bizDates'] : '';
    const expires = typeof q['expires'] === 'string' ? q['expires'] : '';
    const token = typeof q['token'] === 'string' ? q['token'] : '';
    const date = /^\d{8}$/.test(bizDates) ? `${bizDates.slice(0, 4)}-${bizDates.slice(4, 6)}-${bizDates.slice(6)}` : '';
    const valid =
      date !== '' &&
      /^\d{1,15}$/.test(expires) &&
      createVerify('RSA-SHA256').update(`${ctx.appId}|${date}|${expires}`).verify(deps.alipayPublicKey, Buffer.from(token, 'base64url'));
    if (!valid) {
      res.status(403).type('text/plain').send('invalid bill download link');
      return;
    }
    if (Number(expires) < ctx.now().getTime()) {
      res.status(410).type('text/plain').send('this bill download link has expired (links are valid 30 s): ask for a new one');
      return;
    }
    await sendBill(res, date);
  }

  /** Console: a day's bill straight to the browser (no signed link needed on the developer's side). */
  async function downloadFromConsole(req: Request, res: Response): Promise<void> {
    const date = typeof req.query['date'] === 'string' ? req.query['date'] : '';
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) {
      res.status(400).type('text/plain').send('date must be yyyy-MM-dd');
      return;
    }
    await sendBill(res, date);
  }

  /**
   * Console: "a payment Alipay has but the shop never heard of". With an out_trade_no of a trade
   * waiting for payment, that trade is paid without any notification (a lost notification);
   * otherwise a new paid trade is made.
   */
  async function injectPayment(req: Request, res: Response): Promise<void> {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const text = (name: string) => (typeof body[name] === 'string' ? (body[name] as string).trim() : '');
    try {
      const fen = parseAmount('amount', text('amount') || '0.01');
      const outTradeNo = checkOutNo('out_trade_no', text('out_trade_no') || `OUTSIDE_${randomDigits(12)}`);
      await payWithoutNotification(ctx, outTradeNo, fen);
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      res.status(400).type('text/plain').send(err.subMsg);
      return;
    }
    res.redirect(303, `${basePath}/`);
  }

  /** Console: "a refund made outside the shop" (as in Alipay's merchant portal): no notification. */
  async function refundOutside(req: Request, res: Response): Promise<void> {
    const id = Number(req.params['id']);
    const trade = Number.isSafeInteger(id) && id > 0 ? await findTradeById(ctx, id) : null;
    const body = (req.body ?? {}) as Record<string, unknown>;
    try {
      if (!trade || trade.appId !== ctx.appId) throw businessError('ACQ.TRADE_NOT_EXIST', '交易不存在');
      const remaining = fenFromDb(trade.totalFen - trade.refundedFen);
      const fen = parseAmount('amount', typeof body['amount'] === 'string' && body['amount'].trim() ? body['amount'].trim() : amount(remaining));
      await refundWithoutNotification(ctx, trade.id, fen);
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      res.status(400).type('text/plain').send(err.subMsg);
      return;
    }
    res.redirect(303, `${basePath}/#trade-${id}`);
  }

  return { downloadUrlQuery, download, downloadFromConsole, injectPayment, refundOutside };
}

export type SandboxBills = ReturnType<typeof createSandboxBills>;

/** A paid trade the shop is never told about. */
export async function payWithoutNotification(ctx: TradeContext, outTradeNo: string, fen: number) {
  const now = ctx.now();
  const existing = await ctx.db.sandboxTrade.findUnique({ where: { appId_outTradeNo: { appId: ctx.appId, outTradeNo } } });
  const paid = { status: 'TRADE_SUCCESS' as const, paidAt: now, buyerId: generateAlipayUserId(), buyerLogonId: 'san***@sandbox.com' };
  if (existing) {
    if (fenFromDb(existing.totalFen) !== fen) throw businessError('ACQ.CONTEXT_INCONSISTENT', `trade ${outTradeNo} exists with another amount`);
    const { count } = await ctx.db.sandboxTrade.updateMany({ where: { id: existing.id, status: 'WAIT_BUYER_PAY' }, data: paid });
    if (count !== 1) throw businessError('ACQ.TRADE_STATUS_ERROR', `trade ${outTradeNo} is not waiting for payment`);
    return ctx.db.sandboxTrade.findUniqueOrThrow({ where: { id: existing.id } });
  }
  return ctx.db.sandboxTrade.create({
    data: {
      cashierId: randomBytes(18).toString('base64url'),
      appId: ctx.appId,
      method: 'alipay.trade.page.pay',
      productCode: 'FAST_INSTANT_TRADE_PAY',
      outTradeNo,
      tradeNo: generateTradeNo(now),
      totalFen: BigInt(fen),
      subject: 'Injected by the sandbox console',
      expiresAt: new Date(now.getTime() + 15 * 60_000),
      createdAt: now,
      ...paid,
    },
  });
}

/** A refund made at Alipay that no notification tells the shop about. */
export async function refundWithoutNotification(ctx: TradeContext, tradeId: number, fen: number) {
  return ctx.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM sandbox_trades WHERE id = ${tradeId} FOR UPDATE`;
    const trade = await tx.sandboxTrade.findUniqueOrThrow({ where: { id: tradeId } });
    if (trade.status !== 'TRADE_SUCCESS') throw businessError('ACQ.TRADE_STATUS_ERROR', '交易状态不合法 (only a paid, open trade can be refunded)');
    const refunded = trade.refundedFen + BigInt(fen);
    if (refunded > trade.totalFen) throw businessError('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', '退款金额超限');
    const now = ctx.now();
    const full = refunded === trade.totalFen;
    const refund = await tx.sandboxRefund.create({
      data: { tradeId, outRequestNo: `PORTAL${randomDigits(14)}`, refundFen: BigInt(fen), reason: 'refunded outside the shop (sandbox console)', createdAt: now },
    });
    await tx.sandboxTrade.update({ where: { id: tradeId }, data: { refundedFen: refunded, ...(full ? { status: 'TRADE_CLOSED', closedAt: now } : {}) } });
    return refund;
  });
}
