import { Router, type Request, type Response } from 'express';
import { formatYuan } from '../lib/money.js';
import { wantsJson } from '../lib/wants-json.js';
import { InvalidRequestError, NotFoundError } from '../shop/errors.js';
import {
  chooseGoodsCover,
  createGoods,
  deleteGoodsImage,
  getAdminGoods,
  listAdminGoods,
  orderGoodsImages,
  parseGoodsInput,
  updateGoods,
  uploadGoodsImage,
} from '../shop/goods-admin.js';
import { MAX_IMAGES_PER_GOODS, presentImage } from '../shop/goods-images.js';
import type { Actor } from '../shop/operator-actions.js';
import type { AdminDeps } from './deps.js';
import { ADMIN_BASE, operatorOf, requireAdmin } from './session.js';
import { readImageUpload } from './upload.js';

function actorOf(res: Response): Actor {
  const { id, email } = operatorOf(res);
  return { id, email };
}

function idParam(req: Request, name: string): number {
  const value = String(req.params[name] ?? '');
  if (!/^[1-9]\d{0,9}$/.test(value) || Number(value) > 2_147_483_647) throw new NotFoundError('There is no such goods or image.');
  return Number(value);
}

function form(req: Request): Record<string, unknown> {
  return (req.body ?? {}) as Record<string, unknown>;
}

/** Catalog management: every goods, sold or not; changes by admins only, each recorded. */
export function goodsPages(deps: AdminDeps): Router {
  const router = Router();
  const images = { db: deps.db, media: deps.media };
  const back = (res: Response, id: number, anchor = '') => res.redirect(303, `${ADMIN_BASE}/goods/${id}${anchor}`);

  router.get('/goods', async (req, res) => {
    const q = typeof req.query.q === 'string' ? req.query.q : '';
    const afterText = typeof req.query.after === 'string' ? req.query.after : '';
    if (afterText && !/^[1-9]\d{0,9}$/.test(afterText)) throw new InvalidRequestError('"after" must be a goods id from the previous page.');
    const page = await listAdminGoods(deps.db, { q, after: afterText ? Number(afterText) : undefined });
    if (wantsJson(req)) {
      return res.json({
        goods: page.goods.map((g) => ({ id: g.id, name: g.name, price: formatYuan(g.priceFen), active: g.active, images: g._count.images, ordered: g._count.orderItems })),
        nextCursor: page.nextAfter === null ? null : String(page.nextAfter),
      });
    }
    const goods = page.goods.map((g) => ({ ...g, cover: g.images[0] ? presentImage(deps.media, g.images[0]) : null }));
    res.render('admin/goods-list', { title: 'Goods', page: { ...page, goods }, canAct: operatorOf(res).role === 'admin' });
  });

  router.get('/goods/new', (_req, res) => {
    res.render('admin/goods-edit', { title: 'New goods', goods: null, values: { name: '', description: '', price: '', active: true }, images: [], history: [], canAct: operatorOf(res).role === 'admin', maxImages: MAX_IMAGES_PER_GOODS });
  });

  router.post('/goods', requireAdmin, async (req, res) => {
    const goods = await createGoods(deps.db, parseGoodsInput(form(req)), actorOf(res));
    if (wantsJson(req)) return res.status(201).json({ id: goods.id });
    back(res, goods.id);
  });

  router.get('/goods/:id', async (req, res) => {
    const { goods, images: pictures, history } = await getAdminGoods(images, idParam(req, 'id'));
    if (wantsJson(req)) {
      return res.json({
        id: goods.id,
        name: goods.name,
        description: goods.description,
        price: formatYuan(goods.priceFen),
        active: goods.active,
        images: pictures.map((p) => ({ id: p.id, position: p.position, url: p.url, width: p.width, height: p.height })),
        history: history.map((h) => ({ at: h.createdAt.toISOString(), operator: h.operatorEmail, action: h.action, outcome: h.outcome, detail: h.detail })),
      });
    }
    res.render('admin/goods-edit', {
      title: goods.name,
      goods,
      values: { name: goods.name, description: goods.description, price: formatYuan(goods.priceFen), active: goods.active },
      images: pictures,
      history,
      canAct: operatorOf(res).role === 'admin',
      maxImages: MAX_IMAGES_PER_GOODS,
    });
  });

  router.post('/goods/:id', requireAdmin, async (req, res) => {
    const id = idParam(req, 'id');
    await updateGoods(deps.db, id, parseGoodsInput(form(req)), actorOf(res));
    if (wantsJson(req)) return res.json({ id });
    back(res, id);
  });

  router.post('/goods/:id/images', requireAdmin, async (req, res) => {
    const id = idParam(req, 'id');
    const image = await uploadGoodsImage(images, id, await readImageUpload(req), actorOf(res));
    if (wantsJson(req)) return res.status(201).json({ id: image.id, url: image.url, srcset: image.srcset });
    back(res, id, '#images');
  });

  router.post('/goods/:id/images/:imageId/delete', requireAdmin, async (req, res) => {
    const id = idParam(req, 'id');
    await deleteGoodsImage(images, id, idParam(req, 'imageId'), actorOf(res));
    if (wantsJson(req)) return res.json({ ok: true });
    back(res, id, '#images');
  });

  router.post('/goods/:id/images/:imageId/cover', requireAdmin, async (req, res) => {
    const id = idParam(req, 'id');
    await chooseGoodsCover(images, id, idParam(req, 'imageId'), actorOf(res));
    if (wantsJson(req)) return res.json({ ok: true });
    back(res, id, '#images');
  });

  router.post('/goods/:id/images/order', requireAdmin, async (req, res) => {
    const id = idParam(req, 'id');
    const order = String(form(req).order ?? '');
    if (!/^\d{1,10}(,\d{1,10}){0,7}$/.test(order)) throw new InvalidRequestError('Give the image ids in their new order, separated by commas.');
    await orderGoodsImages(images, id, order.split(',').map(Number), actorOf(res));
    if (wantsJson(req)) return res.json({ ok: true });
    back(res, id, '#images');
  });

  return router;
}
