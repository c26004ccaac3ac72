import { Router, type Request } from 'express';
import { InvalidRequestError } from '../../shop/errors.js';
import { MAX_QUANTITY } from '../../shop/orders.js';
import { parseGoodsId, parseQuantity } from '../input.js';
import { saveSession } from '../session.js';
import { checkout, type OrderRouteDeps } from './orders.js';

const MAX_LINES = 50;

function cartOf(req: Request): Record<string, number> {
  return req.session.cart ?? {};
}

function linesOf(cart: Record<string, number>) {
  return Object.entries(cart).map(([goodsId, quantity]) => ({ goodsId: Number(goodsId), quantity }));
}

export function cartRoutes(deps: OrderRouteDeps): Router {
  const { db } = deps;
  const router = Router();

  router.get('/cart', async (req, res) => {
    const lines = linesOf(cartOf(req));
    const goods = await db.goods.findMany({ where: { id: { in: lines.map((l) => l.goodsId) } } });
    const byId = new Map(goods.map((g) => [g.id, g]));
    const items = lines.flatMap((line) => {
      const g = byId.get(line.goodsId);
      return g ? [{ goods: g, quantity: line.quantity, available: g.active, amountFen: g.priceFen * line.quantity }] : [];
    });
    const totalFen = items.filter((i) => i.available).reduce((sum, i) => sum + i.amountFen, 0);
    res.render('cart/show', { title: 'Cart', items, totalFen });
  });

  router.post('/cart/items', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const goodsId = parseGoodsId(body.goodsId);
    const quantity = parseQuantity(body.quantity);
    const goods = await db.goods.findFirst({ where: { id: goodsId, active: true } });
    if (!goods) throw new InvalidRequestError('This product is not for sale (any more).');
    const cart = { ...cartOf(req) };
    if (!(goodsId in cart) && Object.keys(cart).length >= MAX_LINES) throw new InvalidRequestError(`A cart holds at most ${MAX_LINES} different items.`);
    cart[goodsId] = Math.min(MAX_QUANTITY, (cart[goodsId] ?? 0) + quantity);
    req.session.cart = cart;
    await saveSession(req);
    res.redirect(303, '/cart');
  });

  router.post('/cart/items/:goodsId', async (req, res) => {
    const goodsId = parseGoodsId(req.params.goodsId);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const cart = { ...cartOf(req) };
    if (!(goodsId in cart)) throw new InvalidRequestError('This item is not in your cart.');
    const quantity = body.action === 'remove' ? 0 : parseQuantity(body.quantity, { allowZero: true });
    if (quantity === 0) delete cart[goodsId];
    else cart[goodsId] = quantity;
    req.session.cart = cart;
    await saveSession(req);
    res.redirect(303, '/cart');
  });

  router.post('/cart/checkout', async (req, res) => {
    const lines = linesOf(cartOf(req));
    if (lines.length === 0) throw new InvalidRequestError('Your cart is empty.');
    await checkout(req, res, deps, lines, { clearCart: true });
  });

  return router;
}
