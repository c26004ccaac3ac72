import { Router } from 'express';
import type { Db } from '../../db/client.js';
import { createCatalog, getGoods } from '../../shop/goods.js';
import { listGoodsImages, presentImage, type MediaLibrary } from '../../shop/goods-images.js';
import { NotFoundError } from '../../shop/errors.js';

function pageNumber(value: unknown): number {
  return typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : 1;
}

export function catalogRoutes(db: Db, media: Pick<MediaLibrary, 'url'>, opts: { cacheMs: number }): Router {
  const router = Router();
  const catalog = createCatalog(db, { ttlMs: opts.cacheMs });

  router.get('/', async (req, res) => {
    const q = typeof req.query.q === 'string' ? req.query.q : '';
    const page = await catalog.list({ q, page: pageNumber(req.query.page) });
    const items = page.items.map((goods) => ({ ...goods, image: goods.cover ? presentImage(media, goods.cover) : null }));
    res.render('goods/index', { ...page, items });
  });

  router.get('/goods/:id', async (req, res) => {
    if (!/^\d{1,10}$/.test(req.params.id)) throw new NotFoundError('This product does not exist.');
    const goods = await getGoods(db, Number(req.params.id));
    res.render('goods/show', { goods, images: await listGoodsImages({ db, media }, goods.id) });
  });

  return router;
}
