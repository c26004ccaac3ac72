import { Router, type Request, type Response } from 'express';
import { formatYuan } from '../../lib/money.js';
import { getPayableOrder, listOrders, placeOrder, viewOrder, isPayable, type OrderLine, type OrderWithItems } from '../../shop/orders.js';
import type { AlipayPayments } from '../../payments/alipay-adapter.js';
import { wantsJson } from '../../lib/wants-json.js';
import { parseGoodsId, parseQuantity } from '../input.js';
import { browserRef, saveSession } from '../session.js';
import { paymentDeps, type ShopRouteDeps } from './deps.js';

const MOBILE_UA = /Mobi|Android|iPhone|iPod|HarmonyOS|MicroMessenger/i;

export function orderJson(order: OrderWithItems) {
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
    tradeNo: order.tradeNo,
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

export async function checkout(req: Request, res: Response, deps: ShopRouteDeps, lines: OrderLine[], opts: { clearCart?: boolean } = {}) {
  const order = await placeOrder(deps.db, { lines, ttlMinutes: deps.ttlMinutes, browserRef: browserRef(req) });
  if (opts.clearCart) req.session.cart = {};
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
    const orders = await listOrders(deps.db, { browserRef: req.session.browser, outTradeNos: req.session.orders });
    if (wantsJson(req)) {
      return res.json({ orders: orders.map((o) => ({ outTradeNo: o.outTradeNo, status: o.status, totalAmount: formatYuan(o.totalFen), createdAt: o.createdAt })) });
    }
    res.render('orders/index', { title: 'My orders', orders });
  });

  router.get('/orders/:outTradeNo', async (req, res) => {
    const order = await viewOrder(paymentDeps(deps), req.params.outTradeNo, {
      check: req.query.check === '1',
      onCheckError: (err) => req.log?.warn({ err, outTradeNo: req.params.outTradeNo }, 'could not check the order with Alipay; showing our state'),
    });
    if (wantsJson(req)) return res.json(orderJson(order));
    res.render('orders/show', { title: `Order ${order.outTradeNo}`, order, payable: isPayable(order), returned: req.query.returned === '1' });
  });

  router.post('/orders/:outTradeNo/pay', async (req, res) => {
    sendToCashier(req, res, deps.payments, await getPayableOrder(deps.db, req.params.outTradeNo));
  });

  return router;
}
