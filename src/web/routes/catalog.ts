import { randomBytes } from 'node:crypto';
import { Router, type Response } from 'express';
import type { Db } from '../../db/client.js';
import { createCatalog, getGoods, type GoodsPage } from '../../shop/goods.js';
import { listGoodsImages, presentImage, type MediaLibrary } from '../../shop/goods-images.js';
import { NotFoundError } from '../../shop/errors.js';

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

export function catalogRoutes(db: Db, media: Pick<MediaLibrary, 'url'>, opts: { cacheMs: number }): Router {
  const router = Router();
  const catalog = createCatalog(db, { ttlMs: opts.cacheMs });
  const rendered = new WeakMap<GoodsPage, Map<string, string>>();

  router.get('/', async (req, res) => {
    const q = typeof req.query.q === 'string' ? req.query.q : '';
    const page = await catalog.list({ q, page: pageNumber(req.query.page) });
    const { csrfToken, cspNonce: _nonce, ...others } = res.locals;
    const key = JSON.stringify(others);
    let variants = rendered.get(page);
    if (!variants) rendered.set(page, (variants = new Map()));
    let html = variants.get(key);
    if (html === undefined) {
      const items = page.items.map((goods) => ({ ...goods, image: goods.cover ? presentImage(media, goods.cover) : null }));
      html = await renderView(res, 'goods/index', { ...page, items, csrfToken: TOKEN_MARK });
      if (variants.size < MAX_VARIANTS) variants.set(key, html);
    }
    res.type('html').send(html.replaceAll(TOKEN_MARK, typeof csrfToken === 'string' ? csrfToken : ''));
  });

  router.get('/goods/:id', async (req, res) => {
    if (!/^\d{1,10}$/.test(req.params.id)) throw new NotFoundError('This product does not exist.');
    const goods = await getGoods(db, Number(req.params.id));
    res.render('goods/show', { goods, images: await listGoodsImages({ db, media }, goods.id) });
  });

  return router;
}
