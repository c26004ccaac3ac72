import type { Db } from '../db/client.js';
import { Prisma } from '../generated/prisma/client.js';
import { formatYuan, MoneyFormatError, parseYuan } from '../lib/money.js';
import { InvalidRequestError, NotFoundError } from './errors.js';
import { addGoodsImage, listGoodsImages, removeGoodsImage, reorderGoodsImages, setGoodsCover, type ImageDeps, type ImageView } from './goods-images.js';
import { recordAction, type Actor } from './operator-actions.js';

export const MAX_GOODS_PRICE_FEN = 100_000_000; // ¥1,000,000.00
const ADMIN_PAGE = 50;

export interface GoodsInput {
  name: string;
  description: string;
  priceFen: number;
  active: boolean;
}

/** A goods form as typed by an operator, checked field by field; every problem in one message. */
export function parseGoodsInput(form: Record<string, unknown>): GoodsInput {
  const text = (name: string) => (typeof form[name] === 'string' ? (form[name] as string) : '');
  const problems: string[] = [];
  const name = text('name').trim().replace(/\s+/g, ' ');
  if (name.length < 1 || name.length > 200) problems.push('The name must be 1 to 200 characters.');
  const description = text('description').replace(/\r\n?/g, '\n').trim();
  if (description.length > 5_000) problems.push('The description must be at most 5,000 characters.');
  let priceFen = 0;
  try {
    priceFen = parseYuan(text('price').trim(), MAX_GOODS_PRICE_FEN);
    if (priceFen < 1) problems.push('The price must be at least ¥0.01.');
  } catch (err) {
    if (!(err instanceof MoneyFormatError)) throw err;
    problems.push(`The price must be in yuan with at most two decimals, from 0.01 to 1000000.00 (like 12.30): ${err.message}.`);
  }
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(name + description)) problems.push('The name and description may not contain control characters.');
  if (problems.length) throw new InvalidRequestError(problems.join(' '));
  return { name, description, priceFen, active: form.active === 'on' || form.active === 'true' || form.active === '1' };
}

function unique(err: unknown, name: string): never {
  if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
    throw new InvalidRequestError(`There is already a goods named “${name}”: choose another name.`);
  }
  throw err;
}

const snapshot = (g: GoodsInput) => ({ name: g.name, description: g.description, price: formatYuan(g.priceFen), active: g.active });

/** All goods (sold or not), newest first, searched by name, 50 a page after a keyset cursor (the id). */
export async function listAdminGoods(db: Db, opts: { q?: string; after?: number }) {
  const q = (opts.q ?? '').trim().slice(0, 100);
  const rows = await db.goods.findMany({
    where: { ...(q ? { name: { contains: q, mode: 'insensitive' } } : {}), ...(opts.after ? { id: { lt: opts.after } } : {}) },
    orderBy: { id: 'desc' },
    take: ADMIN_PAGE + 1,
    include: { images: { orderBy: [{ position: 'asc' }, { id: 'asc' }], take: 1 }, _count: { select: { images: true, orderItems: true } } },
  });
  const more = rows.length > ADMIN_PAGE;
  const goods = rows.slice(0, ADMIN_PAGE);
  return { goods, q, nextAfter: more ? goods.at(-1)!.id : null };
}

export async function getAdminGoods(deps: Pick<ImageDeps, 'db'> & { media: Pick<ImageDeps['media'], 'url'> }, id: number) {
  const goods = await deps.db.goods.findUnique({ where: { id }, include: { _count: { select: { orderItems: true } } } });
  if (!goods) throw new NotFoundError('There is no such goods.');
  const [images, history] = await Promise.all([
    listGoodsImages(deps, id),
    deps.db.operatorAction.findMany({ where: { goodsId: id }, orderBy: { id: 'desc' }, take: 100 }),
  ]);
  return { goods, images, history };
}

export async function createGoods(db: Db, input: GoodsInput, actor: Actor) {
  return db
    .$transaction(async (tx) => {
      const goods = await tx.goods.create({ data: input });
      await recordAction(tx, actor, { orderId: null, goodsId: goods.id, action: 'goods-create', outcome: 'created', detail: JSON.stringify({ after: snapshot(input) }) });
      return goods;
    })
    .catch((err: unknown) => unique(err, input.name));
}

/**
 * Changes a goods. Orders keep their own snapshot of names and prices, so nothing here changes an
 * order; a price change reaches the catalog within its cache time. Goods that were ever ordered
 * are never deleted: they are deactivated (gone from the catalog, refused at checkout).
 */
export async function updateGoods(db: Db, id: number, input: GoodsInput, actor: Actor) {
  return db
    .$transaction(async (tx) => {
      const before = await tx.goods.findUnique({ where: { id } });
      if (!before) throw new NotFoundError('There is no such goods.');
      const was = snapshot(before);
      const now = snapshot(input);
      const changed = (Object.keys(now) as (keyof typeof now)[]).filter((k) => was[k] !== now[k]);
      if (changed.length === 0) return before;
      const goods = await tx.goods.update({ where: { id }, data: input });
      await recordAction(tx, actor, {
        orderId: null,
        goodsId: id,
        action: 'goods-update',
        outcome: changed.join(', '),
        detail: JSON.stringify({ before: Object.fromEntries(changed.map((k) => [k, was[k]])), after: Object.fromEntries(changed.map((k) => [k, now[k]])) }),
      });
      return goods;
    })
    .catch((err: unknown) => unique(err, input.name));
}

const audited = (actor: Actor, goodsId: number, action: string, outcome: string) => (tx: Prisma.TransactionClient, detail: string) =>
  recordAction(tx, actor, { orderId: null, goodsId, action, outcome, detail });

export function uploadGoodsImage(deps: ImageDeps, goodsId: number, bytes: Buffer, actor: Actor): Promise<ImageView> {
  return addGoodsImage(deps, goodsId, bytes, audited(actor, goodsId, 'image-add', 'added'));
}

export function deleteGoodsImage(deps: ImageDeps, goodsId: number, imageId: number, actor: Actor): Promise<void> {
  return removeGoodsImage(deps, goodsId, imageId, audited(actor, goodsId, 'image-remove', 'removed'));
}

export function chooseGoodsCover(deps: ImageDeps, goodsId: number, imageId: number, actor: Actor): Promise<void> {
  return setGoodsCover(deps, goodsId, imageId, audited(actor, goodsId, 'image-order', 'cover'));
}

export function orderGoodsImages(deps: ImageDeps, goodsId: number, imageIds: number[], actor: Actor): Promise<void> {
  return reorderGoodsImages(deps, goodsId, imageIds, audited(actor, goodsId, 'image-order', 'reordered'));
}
