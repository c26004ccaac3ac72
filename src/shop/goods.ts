import type { Db } from '../db/client.js';
import { NotFoundError } from './errors.js';

export const PAGE_SIZE = 20;

/** The stored cover picture of a goods (position 0), as its keys; presented by presentImage. */
export interface CoverImage {
  id: number;
  position: number;
  originalKey: string;
  width: number;
  height: number;
  variants: unknown;
}

export interface GoodsPage {
  items: { id: number; name: string; description: string; priceFen: number; imagePath: string | null; cover: CoverImage | null }[];
  page: number;
  pageCount: number;
  total: number;
  q: string;
}

/** Active goods, optionally filtered by a case-insensitive substring of the name, 20 to a page. */
export async function listGoods(db: Db, opts: { q?: string; page?: number } = {}): Promise<GoodsPage> {
  const q = (opts.q ?? '').trim().slice(0, 100);
  // Match % and _ literally; one query returns the page and the total (this is the hot path).
  const pattern = `%${q.replace(/[\\%_]/g, '\\$&')}%`;
  const fetchPage = (page: number) => db.$queryRaw<(GoodsPage['items'][number] & { total: bigint })[]>`
    SELECT g.id, g.name, g.description, g.price_fen AS "priceFen", g.image_path AS "imagePath",
           CASE WHEN c.id IS NULL THEN NULL
                ELSE json_build_object('id', c.id, 'position', c.position, 'originalKey', c.original_key,
                                       'width', c.width, 'height', c.height, 'variants', c.variants) END AS cover,
           count(*) OVER () AS total
    FROM goods g
    LEFT JOIN LATERAL (
      SELECT id, position, original_key, width, height, variants FROM goods_images
      WHERE goods_id = g.id ORDER BY position, id LIMIT 1
    ) c ON true
    WHERE g.active AND g.name ILIKE ${pattern}
    ORDER BY g.id
    LIMIT ${PAGE_SIZE} OFFSET ${(page - 1) * PAGE_SIZE}`;
  let page = Math.max(1, opts.page ?? 1);
  let rows = await fetchPage(page);
  if (rows.length === 0 && page > 1) {
    // Past the last page: show the last one.
    const total = await db.goods.count({ where: { active: true, name: { contains: pattern.slice(1, -1), mode: 'insensitive' } } });
    page = Math.max(1, Math.ceil(total / PAGE_SIZE));
    rows = await fetchPage(page);
  }
  const total = Number(rows[0]?.total ?? 0);
  const items = rows.map(({ total: _total, ...item }) => item);
  return { items, page, pageCount: Math.max(1, Math.ceil(total / PAGE_SIZE)), total, q };
}

export async function getGoods(db: Db, id: number) {
  const goods = Number.isSafeInteger(id) && id > 0 && id <= 2_147_483_647
    ? await db.goods.findFirst({ where: { id, active: true } })
    : null;
  if (!goods) throw new NotFoundError('This product does not exist or is no longer sold.');
  return goods;
}

/**
 * listGoods behind a short-lived in-process cache: the catalog is the hottest page and changes
 * rarely. Listings may lag a price change by `ttlMs`; checkout always re-reads prices.
 */
export function createCatalog(db: Db, opts: { ttlMs: number; maxEntries?: number }) {
  const cache = new Map<string, { at: number; page: Promise<GoodsPage> }>();
  const maxEntries = opts.maxEntries ?? 200;
  return {
    list(query: { q?: string; page?: number }): Promise<GoodsPage> {
      const key = `${query.page ?? 1}\u0000${(query.q ?? '').trim()}`;
      const now = Date.now();
      const hit = cache.get(key);
      if (hit && now - hit.at < opts.ttlMs) return hit.page;
      if (cache.size >= maxEntries) cache.clear();
      const page = listGoods(db, query);
      cache.set(key, { at: now, page });
      page.catch(() => cache.delete(key));
      return page;
    },
  };
}
