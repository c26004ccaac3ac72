import { randomBytes } from 'node:crypto';
import type { Db } from '../db/client.js';
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

function subjectFor(names: string[]): string {
  const first = names[0] ?? '';
  const subject = names.length > 1 ? `${first} 等${names.length}件商品` : first;
  return subject.length > 256 ? `${subject.slice(0, 255)}…` : subject;
}

/**
 * Creates an UNPAID order priced from the database (never from the request), with a snapshot of
 * each item's name and unit price.
 */
export async function placeOrder(db: Db, opts: { lines: OrderLine[]; ttlMinutes: number; now?: Date; shopperId?: number }) {
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
  const goods = await db.goods.findMany({ where: { id: { in: [...quantities.keys()] }, active: true } });
  const byId = new Map(goods.map((g) => [g.id, g]));
  const items = [...quantities].map(([goodsId, quantity]) => {
    const g = byId.get(goodsId);
    if (!g) throw new InvalidRequestError('One of the items is not for sale (any more). Please check your order.');
    return { goodsId, name: g.name, unitPriceFen: g.priceFen, quantity };
  });
  const totalFen = items.reduce((sum, item) => sum + item.unitPriceFen * item.quantity, 0);
  if (totalFen > MAX_TOTAL_FEN) throw new InvalidRequestError('This order is too large to pay in one go. Please split it.');

  const order = {
    outTradeNo: newOutTradeNo(now),
    totalFen,
    subject: subjectFor(items.map((i) => i.name)),
    expiresAt: new Date(now.getTime() + opts.ttlMinutes * 60_000),
  };
  // Order and items in one statement (one round trip): checkout is a hot path.
  const [created] = await db.$queryRaw<{ id: number }[]>`
    WITH o AS (
      INSERT INTO orders (out_trade_no, total_fen, subject, expires_at, shopper_id, updated_at)
      VALUES (${order.outTradeNo}, ${order.totalFen}, ${order.subject}, ${order.expiresAt}, ${opts.shopperId ?? null}::int, now())
      RETURNING id
    ), i AS (
      INSERT INTO order_items (order_id, goods_id, name, unit_price_fen, quantity)
      SELECT o.id, item.goods_id, item.name, item.unit_price_fen, item.quantity
      FROM o, unnest(${items.map((i) => i.goodsId)}::int[], ${items.map((i) => i.name)}::text[],
                     ${items.map((i) => i.unitPriceFen)}::int[], ${items.map((i) => i.quantity)}::int[])
             AS item(goods_id, name, unit_price_fen, quantity)
    )
    SELECT id FROM o`;
  return { id: created!.id, ...order, items };
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

export function listOrders(db: Db, outTradeNos: string[]) {
  return db.order.findMany({ where: { outTradeNo: { in: outTradeNos } }, orderBy: { createdAt: 'desc' } });
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
