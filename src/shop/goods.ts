import type { Db } from '../db/client.js';
import { NotFoundError } from './errors.js';

export const PAGE_SIZE = 20;

export interface GoodsPage {
  items: { id: number; name: string; description: string; priceFen: number; imagePath: string | null }[];
  page: number;
  pageCount: number;
  total: number;
  q: string;
}

/** Active goods, optionally filtered by a case-insensitive substring of the name, 20 to a page. */
export async function listGoods(db: Db, opts: { q?: string; page?: number } = {}): Promise<GoodsPage> {
  const q = (opts.q ?? '').trim().slice(0, 100);
  // Prisma passes `contains` to ILIKE unescaped: make % and _ match themselves.
  const pattern = q.replace(/[\\%_]/g, '\\$&');
  const where = { active: true, ...(q ? { name: { contains: pattern, mode: 'insensitive' as const } } : {}) };
  const total = await db.goods.count({ where });
  const pageCount = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const page = Math.min(Math.max(1, opts.page ?? 1), pageCount);
  const items = await db.goods.findMany({
    where,
    orderBy: { id: 'asc' },
    skip: (page - 1) * PAGE_SIZE,
    take: PAGE_SIZE,
    select: { id: true, name: true, description: true, priceFen: true, imagePath: true },
  });
  return { items, page, pageCount, total, q };
}

export async function getGoods(db: Db, id: number) {
  const goods = Number.isSafeInteger(id) && id > 0 && id <= 2_147_483_647
    ? await db.goods.findFirst({ where: { id, active: true } })
    : null;
  if (!goods) throw new NotFoundError('This product does not exist or is no longer sold.');
  return goods;
}
