import { Router, type Request, type Response } from 'express';
import { addToCart, cartLines, dropUnavailable, priceCart, setCartQuantity, type Cart } from '../../shop/cart.js';
import { ConflictError, InvalidRequestError } from '../../shop/errors.js';
import { parseGoodsId, parseQuantity } from '../input.js';
import { saveSession } from '../session.js';
import type { ShopRouteDeps } from './deps.js';
import { signedInShopper } from './account.js';
import { checkout } from './orders.js';

function cartOf(req: Request): Cart {
  return req.session.cart ?? {};
}

/** Keeps the cart in the session and, signed in, as the account's cart (the same on every device). */
async function storeCart(req: Request, res: Response, deps: ShopRouteDeps, cart: Cart) {
  req.session.cart = cart;
  const shopper = signedInShopper(res);
  if (shopper) await deps.accounts?.saveCart(shopper.id, cart);
  await saveSession(req);
}

export function cartRoutes(deps: ShopRouteDeps): Router {
  const router = Router();

  router.get('/cart', async (req, res) => {
    const { items, totalFen } = await priceCart(deps.db, cartOf(req));
    res.render('cart/show', { title: 'Cart', items, totalFen });
  });

  router.post('/cart/items', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    await storeCart(req, res, deps, await addToCart(deps.db, cartOf(req), parseGoodsId(body.goodsId), parseQuantity(body.quantity)));
    res.redirect(303, '/cart');
  });

  router.post('/cart/items/:goodsId', async (req, res) => {
    const goodsId = parseGoodsId(req.params.goodsId);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const cart = cartOf(req);
    if (!(goodsId in cart)) throw new InvalidRequestError('This item is not in your cart.');
    const quantity = body.action === 'remove' ? 0 : parseQuantity(body.quantity, { allowZero: true });
    await storeCart(req, res, deps, setCartQuantity(cart, goodsId, quantity));
    res.redirect(303, '/cart');
  });

  router.post('/cart/checkout', async (req, res) => {
    const { cart, removed } = await dropUnavailable(deps.db, cartOf(req));
    if (removed.length) {
      req.session.cart = cart;
      await saveSession(req);
      throw new ConflictError(`These items are no longer sold and were taken out of your cart: ${removed.join(', ')}. Check your cart, then check out again.`);
    }
    const lines = cartLines(cart);
    if (lines.length === 0) throw new InvalidRequestError('Your cart is empty.');
    await checkout(req, res, deps, lines, { clearCart: true });
  });

  return router;
}
