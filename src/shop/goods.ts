import { queryRowsSerial, type Db } from '../db/client.js';
import { NotFoundError } from './errors.js';

export const PAGE_SIZE = 20;
/** Results are counted up to this many; past it the catalog says "1,000+" and pages stop there. */
export const COUNT_CAP = 1_000;
/** Longer search text is refused at the edge (shop/search-text.ts). */
export const MAX_SEARCH_LENGTH = 100;
export const MAX_PAGES = COUNT_CAP / PAGE_SIZE;
/** Active goods, in id order, that a search reads first: how common its text is. */
export const PROBE_WINDOW = 2_000;
/** At most this many active goods, in id order, are read to count and page a common text. */
export const SCAN_WINDOW = 50_000;

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
  /** Pages that can be shown: all of them, or MAX_PAGES when the count was capped. */
  pageCount: number;
  /** Matching goods, exact up to COUNT_CAP; with `capped`, "more than COUNT_CAP". */
  total: number;
  capped: boolean;
  hasNext: boolean;
  q: string;
}

type Item = GoodsPage['items'][number];

const ITEM_COLUMNS = `g.id, g.name, g.description, g.price_fen AS "priceFen", g.image_path AS "imagePath",
  CASE WHEN c.id IS NULL THEN NULL
       ELSE json_build_object('id', c.id, 'position', c.position, 'originalKey', c.original_key,
                              'width', c.width, 'height', c.height, 'variants', c.variants) END AS cover`;
const COVER = `LEFT JOIN LATERAL (
    SELECT id, position, original_key, width, height, variants FROM goods_images
    WHERE goods_id = g.id ORDER BY position, id LIMIT 1
  ) c ON true`;
// The first SCAN_WINDOW active goods in id order: reading them is bounded, whatever the query.
const WINDOW = `(SELECT id, name, description, price_fen, image_path FROM goods WHERE active ORDER BY id LIMIT $2)`;
// Candidates from the n-gram index (migration 20261127182000_goods_name_grams); LIKE decides.
const INDEXED = `goods_name_grams(name) @> goods_query_grams($2) AND lower(name) LIKE lower($1)`;

// Unnamed statements: each is planned for its own text, never with a generic plan that would not
// know whether the text is common or rare; and without parallel workers (db/client.ts).
const queryRows = queryRowsSerial;

async function count(db: Db, rows: string, params: unknown[]): Promise<number> {
  const [row] = await queryRows<{ n: number }>(db, `SELECT count(*)::int AS n FROM (${rows}) s`, params);
  return row!.n;
}

/**
 * Active goods, optionally filtered by a case-insensitive substring of the name, 20 to a page in
 * id order, counted up to COUNT_CAP. The cost stays bounded however common or rare the text is:
 * the first PROBE_WINDOW goods tell which; a common text (one that the probe says passes the cap
 * within SCAN_WINDOW goods, i.e. in ~3% of them) is counted and paged among as many goods as that
 * takes by an ordered scan that stops at the cap; the others
 * through the n-gram index, which serves 1- and 2-character queries too.
 */
export async function listGoods(
  db: Db,
  opts: { q?: string; page?: number; probeWindow?: number; scanWindow?: number } = {},
): Promise<GoodsPage> {
  const q = (opts.q ?? '').trim().slice(0, MAX_SEARCH_LENGTH);
  const requested = Math.max(1, opts.page ?? 1);
  const capped = (n: number) => n > COUNT_CAP;
  const pageFor = (n: number) => Math.min(requested, capped(n) ? MAX_PAGES : Math.max(1, Math.ceil(n / PAGE_SIZE)));
  const done = (rows: Item[], n: number, page: number): GoodsPage => ({
    items: rows.slice(0, PAGE_SIZE),
    page,
    pageCount: capped(n) ? MAX_PAGES : Math.max(1, Math.ceil(n / PAGE_SIZE)),
    total: Math.min(n, COUNT_CAP),
    capped: capped(n),
    hasNext: rows.length > PAGE_SIZE && page < MAX_PAGES,
    q,
  });
  // One extra row tells whether there is a next page.
  const pageArgs = (page: number) => [PAGE_SIZE + 1, (page - 1) * PAGE_SIZE];

  if (!q) {
    const n = await count(db, `SELECT 1 FROM goods WHERE active LIMIT $1`, [COUNT_CAP + 1]);
    const page = pageFor(n);
    const rows = await queryRows<Item>(db, `SELECT ${ITEM_COLUMNS} FROM goods g ${COVER} WHERE g.active ORDER BY g.id LIMIT $1 OFFSET $2`, pageArgs(page));
    return done(rows, n, page);
  }

  // Match % and _ literally.
  const pattern = `%${q.replace(/[\\%_]/g, '\\$&')}%`;
  /** Matches among the first `size` goods (null: all), counted up to `upTo`. */
  const countIn = (size: number, upTo: number) =>
    count(db, `SELECT 1 FROM ${WINDOW} w WHERE lower(w.name) LIKE lower($1) LIMIT $3`, [pattern, size, upTo]);
  const pageIn = (size: number | null, page: number) =>
    queryRows<Item>(db, `SELECT ${ITEM_COLUMNS} FROM ${WINDOW} g ${COVER} WHERE lower(g.name) LIKE lower($1) ORDER BY g.id LIMIT $3 OFFSET $4`, [pattern, size, ...pageArgs(page)]);

  const probe = opts.probeWindow ?? PROBE_WINDOW;
  let window = probe;
  let inWindow = await countIn(probe, probe);
  // Goods to read, at the probe's density and with room to spare, to pass the cap.
  const reach = inWindow === 0 ? Infinity : Math.ceil((1.5 * (COUNT_CAP + 1) * probe) / inWindow);
  if (reach <= (opts.scanWindow ?? SCAN_WINDOW)) {
    window = Math.max(probe, reach);
    inWindow = await countIn(window, COUNT_CAP + 1);
    // The first COUNT_CAP + 1 matches, and so every page that can be shown, lie in the window.
    if (capped(inWindow)) return done(await pageIn(window, pageFor(inWindow)), inWindow, pageFor(inWindow));
  }
  const n = await count(db, `SELECT 1 FROM goods WHERE active AND ${INDEXED} LIMIT $3`, [pattern, q, COUNT_CAP + 1]);
  const page = pageFor(n);
  if (inWindow >= Math.min(n, page * PAGE_SIZE + 1)) return done(await pageIn(window, page), n, page);
  // Many matches, though not among the first goods: an ordered scan still stops after the page.
  if (capped(n)) return done(await pageIn(null, page), n, page);
  // Few matches: found through the index, then sorted.
  const rows = await queryRows<Item>(
    db,
    `WITH m AS MATERIALIZED (SELECT id FROM goods WHERE active AND ${INDEXED}),
          p AS (SELECT id FROM m ORDER BY id LIMIT $3 OFFSET $4)
     SELECT ${ITEM_COLUMNS} FROM p JOIN goods g ON g.id = p.id ${COVER} ORDER BY g.id`,
    [pattern, q, ...pageArgs(page)],
  );
  return done(rows, n, page);
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
