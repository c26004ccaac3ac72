import { createHash, randomBytes } from 'node:crypto';
import { Router, type Response } from 'express';
import type { Db } from '../../db/client.js';
import { createCatalog, getGoods, MAX_SEARCH_LENGTH, type GoodsPage } from '../../shop/goods.js';
import { listGoodsImages, presentImage, type MediaLibrary } from '../../shop/goods-images.js';
import { NotFoundError } from '../../shop/errors.js';
import { searchText } from '../../shop/search-text.js';

function pageNumber(value: unknown): number {
  return typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : 1;
}

function renderView(res: Response, view: string, data: object): Promise<string> {
  return new Promise((resolve, reject) => res.render(view, data, (err, html) => (err ? reject(err) : resolve(html))));
}

// The catalog page differs between visitors only by the form token (and what res.locals holds):
// it is rendered once per cached page and set of locals, with a marker where the token goes.
const TOKEN_MARK = `csrf${randomBytes(16).toString('hex')}`;
const MAX_VARIANTS = 32;
// The page's ETag is a hash of the rendered variant (taken once per render, equal across instances
// and catalog refreshes) and the visitor's token, the only part that differs: nothing is hashed per request.

interface Rendered {
  /** The page split at the token's places, encoded once. */
  parts: Buffer[];
  hash: string;
}

export function catalogRoutes(db: Db, media: Pick<MediaLibrary, 'url'>, opts: { cacheMs: number }): Router {
  const router = Router();
  const catalog = createCatalog(db, { ttlMs: opts.cacheMs });
  const rendered = new WeakMap<GoodsPage, Map<string, Rendered>>();

  router.get('/', async (req, res) => {
    const q = searchText(req.query.q, MAX_SEARCH_LENGTH) ?? '';
    const page = await catalog.list({ q, page: pageNumber(req.query.page) });
    const { csrfToken, cspNonce: _nonce, ...others } = res.locals;
    const key = JSON.stringify(others);
    let variants = rendered.get(page);
    if (!variants) rendered.set(page, (variants = new Map()));
    let entry = variants.get(key);
    if (entry === undefined) {
      const items = page.items.map((goods) => ({ ...goods, image: goods.cover ? presentImage(media, goods.cover) : null }));
      const html = await renderView(res, 'goods/index', { ...page, items, csrfToken: TOKEN_MARK });
      entry = { parts: html.split(TOKEN_MARK).map((part) => Buffer.from(part)), hash: createHash('sha1').update(html).digest('base64url').slice(0, 20) };
      if (variants.size < MAX_VARIANTS) variants.set(key, entry);
    }
    const token = typeof csrfToken === 'string' ? csrfToken : '';
    res.set('ETag', `W/"${entry.hash}.${token.slice(0, 16)}"`);
    const tokenBytes = Buffer.from(token);
    const body = Buffer.concat(entry.parts.flatMap((part, i) => (i === 0 ? [part] : [tokenBytes, part])));
    res.type('html').send(body);
  });

  router.get('/goods/:id', async (req, res) => {
    if (!/^\d{1,10}$/.test(req.params.id)) throw new NotFoundError('This product does not exist.');
    const goods = await getGoods(db, Number(req.params.id));
    res.render('goods/show', { goods, images: await listGoodsImages({ db, media }, goods.id) });
  });

  return router;
}
