import type { Db } from '../db/client.js';
import { InvalidRequestError } from './errors.js';
import { MAX_QUANTITY, type OrderLine } from './orders.js';

/** goodsId → quantity, as kept in the shopper's session. */
export type Cart = Record<string, number>;

export const MAX_CART_LINES = 50;

export function cartLines(cart: Cart): OrderLine[] {
  return Object.entries(cart).map(([goodsId, quantity]) => ({ goodsId: Number(goodsId), quantity }));
}

export function countCartItems(cart: Cart): number {
  return Object.values(cart).reduce((sum, q) => sum + q, 0);
}

/** The cart priced from the database now; goods no longer for sale are listed but not counted. */
export async function priceCart(db: Db, cart: Cart) {
  const lines = cartLines(cart);
  const goods = await db.goods.findMany({ where: { id: { in: lines.map((l) => l.goodsId) } } });
  const byId = new Map(goods.map((g) => [g.id, g]));
  const items = lines.flatMap((line) => {
    const g = byId.get(line.goodsId);
    return g ? [{ goods: g, quantity: line.quantity, available: g.active, amountFen: g.priceFen * line.quantity }] : [];
  });
  const totalFen = items.filter((i) => i.available).reduce((sum, i) => sum + i.amountFen, 0);
  return { items, totalFen };
}

/** Adds goods for sale to the cart (quantities add up, capped at the per-line maximum). */
export async function addToCart(db: Db, cart: Cart, goodsId: number, quantity: number): Promise<Cart> {
  const goods = await db.goods.findFirst({ where: { id: goodsId, active: true }, select: { id: true } });
  if (!goods) throw new InvalidRequestError('This product is not for sale (any more).');
  if (!(goodsId in cart) && Object.keys(cart).length >= MAX_CART_LINES) {
    throw new InvalidRequestError(`A cart holds at most ${MAX_CART_LINES} different items.`);
  }
  return { ...cart, [goodsId]: Math.min(MAX_QUANTITY, (cart[goodsId] ?? 0) + quantity) };
}

/** Sets a line's quantity; 0 removes it. */
export function setCartQuantity(cart: Cart, goodsId: number, quantity: number): Cart {
  if (!(goodsId in cart)) throw new InvalidRequestError('This item is not in your cart.');
  const next = { ...cart };
  if (quantity === 0) delete next[goodsId];
  else next[goodsId] = quantity;
  return next;
}

/**
 * A guest cart merged into an account's cart: quantities of the same goods add up, capped at the
 * per-line maximum; lines beyond the cart's limit are dropped (the account's own lines first).
 */
export function mergeCarts(account: Cart, guest: Cart): Cart {
  const merged: Cart = {};
  for (const cart of [account, guest]) {
    for (const [goodsId, quantity] of Object.entries(cart)) {
      if (!Number.isSafeInteger(quantity) || quantity < 1) continue;
      if (!(goodsId in merged) && Object.keys(merged).length >= MAX_CART_LINES) continue;
      merged[goodsId] = Math.min(MAX_QUANTITY, (merged[goodsId] ?? 0) + quantity);
    }
  }
  return merged;
}

/** The cart without goods that are no longer sold, and their names (to tell the shopper). */
export async function dropUnavailable(db: Db, cart: Cart): Promise<{ cart: Cart; removed: string[] }> {
  const ids = cartLines(cart).map((l) => l.goodsId);
  const goods = await db.goods.findMany({ where: { id: { in: ids } }, select: { id: true, name: true, active: true } });
  const sold = new Set(goods.filter((g) => g.active).map((g) => g.id));
  const removed = goods.filter((g) => !g.active).map((g) => g.name);
  const kept = Object.fromEntries(Object.entries(cart).filter(([id]) => sold.has(Number(id))));
  if (ids.length !== goods.length) removed.push(`${ids.length - goods.length} deleted item(s)`);
  return { cart: kept, removed };
}
