import { Router, type Request, type Response } from 'express';
import { formatYuan } from '../../lib/money.js';
import { getPayableOrder, listOrders, placeOrder, viewOrder, isPayable, type OrderLine, type OrderWithItems } from '../../shop/orders.js';
import type { AlipayPayments } from '../../payments/alipay-adapter.js';
import { wantsJson } from '../../lib/wants-json.js';
import { listShopperOrders, maySeeBuyer } from '../../accounts/shopper-orders.js';
import { InvalidRequestError } from '../../shop/errors.js';
import { parseGoodsId, parseQuantity } from '../input.js';
import { signedInShopper } from './account.js';
import { browserRef, saveSession } from '../session.js';
import { refused } from '../../db/rate-limiter.js';
import { RateLimitedError } from '../../shop/errors.js';
import { ORDER_LIMIT_WINDOW_MS, paymentDeps, type ShopRouteDeps } from './deps.js';

const CHECK_FAILED = 'Alipay could not be reached just now to check this payment; the status shown is ours. If you paid, it will be confirmed as soon as Alipay answers.';

const MOBILE_UA = /Mobi|Android|iPhone|iPod|HarmonyOS|MicroMessenger/i;

/** The order as JSON; `showBuyer: false` hides the trade number, `buyerEmail` (the owner viewing) adds the buyer. */
export function orderJson(order: OrderWithItems, opts: { showBuyer?: boolean; buyerEmail?: string } = {}) {
  const showBuyer = opts.showBuyer ?? true;
  return {
    outTradeNo: order.outTradeNo,
    status: order.status,
    totalAmount: formatYuan(order.totalFen),
    items: order.items.map((item) => ({
      name: item.name,
      unitPrice: formatYuan(item.unitPriceFen),
      quantity: item.quantity,
      amount: formatYuan(item.unitPriceFen * item.quantity),
    })),
    tradeNo: showBuyer ? order.tradeNo : null,
    buyer: opts.buyerEmail ? { email: opts.buyerEmail, alipayAccount: order.buyerLogonId } : null,
    paidAt: order.paidAt?.toISOString() ?? null,
    expiresAt: order.expiresAt.toISOString(),
    refundedAmount: formatYuan(order.refundedFen),
  };
}

/** Sends the shopper to Alipay's cashier: a 303 to the signed URL, or the auto-submitting form. */
function sendToCashier(req: Request, res: Response, payments: AlipayPayments, order: Parameters<AlipayPayments['startPayment']>[0]) {
  const start = payments.startPayment(order, { mobile: MOBILE_UA.test(req.get('user-agent') ?? ''), nonce: res.locals.cspNonce });
  if (start.kind === 'redirect') return res.redirect(303, start.url);
  res.render('orders/redirect', { title: 'Redirecting to Alipay', form: start.html });
}

/** Order creation per browser session and per address, both counted in one statement. */
async function limitOrderCreation(req: Request, deps: ShopRouteDeps) {
  const window = { windowMs: ORDER_LIMIT_WINDOW_MS };
  const over = refused(
    await deps.limiter.hitMany([
      { limit: { name: 'orders-session', limit: deps.limits.ordersPerSessionPer10Min, ...window }, subject: req.sessionID },
      { limit: { name: 'orders-ip', limit: deps.limits.ordersPerIpPer10Min, ...window }, subject: req.ip ?? 'unknown' },
    ]),
  );
  if (over) throw new RateLimitedError('You have placed many orders in a short time.', over.retryAfterSeconds);
}

export async function checkout(req: Request, res: Response, deps: ShopRouteDeps, lines: OrderLine[], opts: { clearCart?: boolean } = {}) {
  await limitOrderCreation(req, deps);
  const shopper = signedInShopper(res);
  const order = await placeOrder(deps.db, { lines, ttlMinutes: deps.ttlMinutes, shopperId: shopper?.id, browserRef: browserRef(req) });
  if (opts.clearCart) {
    req.session.cart = {};
    if (shopper) await deps.accounts?.saveCart(shopper.id, {});
  }
  await saveSession(req);
  req.log?.info({ outTradeNo: order.outTradeNo, totalFen: order.totalFen }, 'order placed');
  sendToCashier(req, res, deps.payments, order);
}

export function orderRoutes(deps: ShopRouteDeps): Router {
  const router = Router();

  router.post('/orders', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    await checkout(req, res, deps, [{ goodsId: parseGoodsId(body.goodsId), quantity: parseQuantity(body.quantity) }]);
  });

  router.get('/orders', async (req, res) => {
    const shopper = signedInShopper(res);
    let orders;
    let nextBefore: number | undefined;
    if (shopper) {
      // Signed in: the account's orders, from any device, a page at a time (keyset on the id).
      const before = req.query.before;
      if (before !== undefined && (typeof before !== 'string' || !/^[1-9]\d{0,9}$/.test(before))) throw new InvalidRequestError('The page link is not valid.');
      ({ orders, nextBefore } = await listShopperOrders(deps.db, shopper.id, { before: before === undefined ? undefined : Number(before) }));
    } else {
      orders = await listOrders(deps.db, { browserRef: req.session.browser, outTradeNos: req.session.orders });
    }
    if (wantsJson(req)) {
      return res.json({
        orders: orders.map((o) => ({ outTradeNo: o.outTradeNo, status: o.status, totalAmount: formatYuan(o.totalFen), createdAt: o.createdAt })),
        nextBefore: nextBefore ?? null,
      });
    }
    res.render('orders/index', { title: 'My orders', orders, nextBefore, signedIn: shopper !== undefined });
  });

  router.get('/orders/:outTradeNo', async (req, res) => {
    let checkFailed = false;
    const order = await viewOrder(paymentDeps(deps), req.params.outTradeNo, {
      check: req.query.check === '1',
      onCheckError: (err) => {
        checkFailed = true;
        req.log?.warn({ err, outTradeNo: req.params.outTradeNo }, 'could not check the order with Alipay; showing our state');
      },
    });
    // The number is a receipt link anyone holding it may open; an account's buyer details are its owner's only.
    const shopper = signedInShopper(res);
    const showBuyer = maySeeBuyer(order, shopper?.id);
    const buyerEmail = order.shopperId !== null && order.shopperId === shopper?.id ? shopper.email : undefined;
    if (wantsJson(req)) return res.json({ ...orderJson(order, { showBuyer, buyerEmail }), ...(checkFailed ? { checkFailed: CHECK_FAILED } : {}) });
    const buyer = buyerEmail ? { email: buyerEmail, alipayAccount: order.buyerLogonId } : undefined;
    res.render('orders/show', {
      title: `Order ${order.outTradeNo}`,
      order,
      payable: isPayable(order),
      returned: req.query.returned === '1',
      checkFailed: checkFailed ? CHECK_FAILED : undefined,
      showBuyer,
      buyer,
    });
  });

  router.post('/orders/:outTradeNo/pay', async (req, res) => {
    sendToCashier(req, res, deps.payments, await getPayableOrder(deps.db, req.params.outTradeNo));
  });

  return router;
}
