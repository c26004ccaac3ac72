import type { Db } from '../db/client.js';

export const ORDERS_PAGE_SIZE = 20;

/**
 * One page of a shopper's orders, newest first, by keyset on the order id (the index
 * orders(shopper_id, id)): `before` is the last id of the previous page.
 */
export async function listShopperOrders(db: Db, shopperId: number, opts: { before?: number; limit?: number } = {}) {
  const limit = opts.limit ?? ORDERS_PAGE_SIZE;
  const rows = await db.order.findMany({
    where: { shopperId, ...(opts.before !== undefined ? { id: { lt: opts.before } } : {}) },
    orderBy: { id: 'desc' },
    take: limit + 1,
    select: { id: true, outTradeNo: true, status: true, totalFen: true, subject: true, createdAt: true },
  });
  const orders = rows.slice(0, limit);
  return { orders, nextBefore: rows.length > limit ? orders[orders.length - 1]!.id : undefined };
}

/** Whether the viewer may see the buyer details of an order: guest orders have none to hide. */
export function maySeeBuyer(order: { shopperId: number | null }, viewerShopperId: number | undefined): boolean {
  return order.shopperId === null || order.shopperId === viewerShopperId;
}
