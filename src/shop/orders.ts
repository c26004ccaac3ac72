import { randomBytes } from 'node:crypto';
import { queryRows, type Db } from '../db/client.js';
import type { OrderStatus } from '../generated/prisma/client.js';
import { beijingDate } from '../lib/beijing-time.js';
import { OUT_TRADE_NO_PATTERN } from '../lib/trade-number.js';
import { ConflictError, InvalidRequestError, NotFoundError } from './errors.js';
import { expireOrderOnRead } from './payments/expiry.js';
import type { PaymentDeps } from './payments/confirm.js';
import { refreshPaymentStatus } from './payments/status.js';

export const MAX_QUANTITY = 99;
// orders.total_fen is a PostgreSQL integer
const MAX_TOTAL_FEN = 2_147_483_647;

export interface OrderLine {
  goodsId: number;
  quantity: number;
}

/**
 * `20261125` (Beijing date, for humans and for Alipay's console) + 24 hex chars (96 random bits):
 * the number is the only key to the order page, so it must not be guessable.
 */
export function newOutTradeNo(now: Date): string {
  return `${beijingDate(now).replaceAll('-', '')}${randomBytes(12).toString('hex')}`;
}

// Prices, the not-for-sale check and the subject (rule of the former subjectFor: the first name, "等N件商品"
// when there are several, at most 256 characters) are all computed inside the insert: one round trip.
const PLACE_ORDER_SQL = `
WITH g AS (
  SELECT w.pos, w.goods_id, w.quantity, goods.name, goods.price_fen
  FROM unnest($1::int[], $2::int[]) WITH ORDINALITY AS w(goods_id, quantity, pos)
  JOIN goods ON goods.id = w.goods_id AND goods.active
), s AS (
  SELECT count(*)::int AS n, coalesce(sum(price_fen::bigint * quantity), 0) AS total_fen,
         (array_agg(name ORDER BY pos))[1] || CASE WHEN count(*) > 1 THEN ' 等' || count(*) || '件商品' ELSE '' END AS subject
  FROM g
), o AS (
  INSERT INTO orders (out_trade_no, total_fen, subject, expires_at, browser_ref, shopper_id, updated_at)
  SELECT $3, total_fen, CASE WHEN char_length(subject) > 256 THEN left(subject, 255) || '…' ELSE subject END, $4, $5, $6::int, now()
  FROM s WHERE n = cardinality($1::int[]) AND total_fen <= ${MAX_TOTAL_FEN}
  RETURNING id, subject, total_fen
), i AS (
  INSERT INTO order_items (order_id, goods_id, name, unit_price_fen, quantity)
  SELECT o.id, g.goods_id, g.name, g.price_fen, g.quantity FROM o, g ORDER BY g.pos
)
SELECT (SELECT id FROM o) AS id, (SELECT subject FROM o) AS subject, (SELECT total_fen FROM o) AS total_fen, s.n,
       (SELECT json_agg(json_build_object('goodsId', goods_id, 'name', name, 'unitPriceFen', price_fen, 'quantity', quantity) ORDER BY pos) FROM g) AS items
FROM s`;

interface PlacedRow {
  id: number | null;
  subject: string | null;
  n: number;
  /** The stored orders.total_fen (an integer column: exact as a JS number). */
  total_fen: number | null;
  items: { goodsId: number; name: string; unitPriceFen: number; quantity: number }[] | null;
}

/**
 * Creates an UNPAID order priced from the database (never from the request), with a snapshot of
 * each item's name and unit price, in one statement. `browserRef` ties it to the browser's
 * "My orders" list.
 */
export async function placeOrder(db: Db, opts: { lines: OrderLine[]; ttlMinutes: number; now?: Date; browserRef?: string; shopperId?: number }) {
  const now = opts.now ?? new Date();
  if (opts.lines.length === 0) throw new InvalidRequestError('Your order is empty: add at least one item.');
  const quantities = new Map<number, number>();
  for (const line of opts.lines) {
    if (!Number.isSafeInteger(line.quantity) || line.quantity < 1 || line.quantity > MAX_QUANTITY) {
      throw new InvalidRequestError(`Quantity must be a whole number from 1 to ${MAX_QUANTITY}.`);
    }
    const total = (quantities.get(line.goodsId) ?? 0) + line.quantity;
    if (total > MAX_QUANTITY) throw new InvalidRequestError(`You can buy at most ${MAX_QUANTITY} of one item per order.`);
    quantities.set(line.goodsId, total);
  }
  const notForSale = () => new InvalidRequestError('One of the items is not for sale (any more). Please check your order.');
  // goods.id is a PostgreSQL integer: anything else cannot be for sale (and must not reach the int[] cast).
  if ([...quantities.keys()].some((id) => !Number.isSafeInteger(id) || id < 1 || id > MAX_TOTAL_FEN)) throw notForSale();
  const outTradeNo = newOutTradeNo(now);
  const expiresAt = new Date(now.getTime() + opts.ttlMinutes * 60_000);
  const [row] = await queryRows<PlacedRow>(
    db,
    PLACE_ORDER_SQL,
    [[...quantities.keys()], [...quantities.values()], outTradeNo, expiresAt, opts.browserRef ?? null, opts.shopperId ?? null],
    'place_order',
  );
  if (!row || row.n !== quantities.size) throw notForSale();
  if (row.id === null || row.subject === null || row.total_fen === null || !row.items) {
    throw new InvalidRequestError('This order is too large to pay in one go. Please split it.');
  }
  return { id: row.id, outTradeNo, totalFen: row.total_fen, subject: row.subject, expiresAt, items: row.items };
}

export type OrderWithItems = NonNullable<Awaited<ReturnType<typeof findOrder>>>;

export function findOrder(db: Db, outTradeNo: string) {
  if (!OUT_TRADE_NO_PATTERN.test(outTradeNo)) return Promise.resolve(null);
  return db.order.findUnique({ where: { outTradeNo }, include: { items: { orderBy: { id: 'asc' } } } });
}

export async function getOrder(db: Db, outTradeNo: string): Promise<OrderWithItems> {
  const order = await findOrder(db, outTradeNo);
  if (!order) throw new NotFoundError('There is no order with this number.');
  return order;
}

/** The orders of one browser: those placed with its `browserRef`, and `outTradeNos` it remembers itself. */
export function listOrders(db: Db, of: { browserRef?: string; outTradeNos?: string[] }) {
  const mine = [
    ...(of.browserRef ? [{ browserRef: of.browserRef }] : []),
    ...(of.outTradeNos?.length ? [{ outTradeNo: { in: of.outTradeNos } }] : []),
  ];
  if (mine.length === 0) return Promise.resolve([]);
  return db.order.findMany({ where: { OR: mine }, orderBy: { createdAt: 'desc' }, take: 50 });
}

export function isPayable(order: { status: OrderStatus; expiresAt: Date }, now = new Date()): boolean {
  return order.status === 'UNPAID' && order.expiresAt > now;
}

/**
 * An order as its page shows it. An UNPAID order past its deadline is expired first (after asking
 * the provider); with `check` (the page polls after ~10 s without news) the provider is asked
 * whether it was paid. When the provider cannot be reached, our state is shown and
 * `onCheckError` hears why.
 */
export async function viewOrder(
  deps: PaymentDeps,
  outTradeNo: string,
  opts: { check?: boolean; now?: Date; onCheckError?: (err: unknown) => void } = {},
): Promise<OrderWithItems> {
  const order = await getOrder(deps.db, outTradeNo);
  const now = opts.now ?? new Date();
  if (order.status !== 'UNPAID') return order;
  try {
    if (order.expiresAt <= now) {
      await expireOrderOnRead(deps, outTradeNo, now);
      return await getOrder(deps.db, outTradeNo);
    }
    if (opts.check && (await refreshPaymentStatus(deps, outTradeNo, now))) return await getOrder(deps.db, outTradeNo);
  } catch (err) {
    opts.onCheckError?.(err);
  }
  return order;
}

/** The order, if it can still be paid (for "Pay again"); a clear refusal otherwise. */
export async function getPayableOrder(db: Db, outTradeNo: string, now = new Date()): Promise<OrderWithItems> {
  const order = await getOrder(db, outTradeNo);
  if (!isPayable(order, now)) {
    throw new ConflictError(order.status === 'UNPAID' ? 'This order has expired and can no longer be paid.' : `This order is ${order.status.toLowerCase()} and cannot be paid again.`);
  }
  return order;
}
