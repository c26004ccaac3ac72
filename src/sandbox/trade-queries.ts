import type { SandboxNotification, SandboxRefund, SandboxTrade } from '../generated/prisma/client.js';
import type { TradeContext } from './trades.js';

/** The app's newest 100 trades with their notifications (newest first) and each one's attempts. */
export function listTrades(ctx: TradeContext) {
  return ctx.db.sandboxTrade.findMany({
    where: { appId: ctx.appId },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: 100,
    include: { notifications: { orderBy: { id: 'desc' }, include: { attempts: { orderBy: { attemptNo: 'asc' } } } } },
  });
}

/** As stored: no lazy expiry, no app check (the console acts on any row it lists). */
export function findTradeById(ctx: TradeContext, id: number): Promise<SandboxTrade | null> {
  return ctx.db.sandboxTrade.findUnique({ where: { id } });
}

export function findLatestNotification(ctx: TradeContext, tradeId: number): Promise<SandboxNotification | null> {
  return ctx.db.sandboxNotification.findFirst({ where: { tradeId }, orderBy: { id: 'desc' } });
}

export function findRefund(ctx: TradeContext, tradeId: number, outRequestNo: string): Promise<SandboxRefund | null> {
  return ctx.db.sandboxRefund.findUnique({ where: { tradeId_outRequestNo: { tradeId, outRequestNo } } });
}
