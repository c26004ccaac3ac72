import { Router, type Request, type Response } from 'express';
import type { Db } from '../../db/client.js';
import { ConflictError } from '../../shop/errors.js';
import { formatYuan } from '../../shop/money.js';
import { getOrder, isPayable, listOrders, placeOrder, type OrderLine, type OrderWithItems } from '../../shop/orders.js';
import { expireOrderOnRead, refreshPaymentStatus } from '../../shop/reconcile.js';
import type { AlipayGateway } from '../alipay-gateway.js';
import { parseGoodsId, parseQuantity } from '../input.js';
import { saveSession } from '../session.js';

export interface OrderRouteDeps {
  db: Db;
  alipay: AlipayGateway;
  ttlMinutes: number;
}

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

function rememberOrder(req: Request, outTradeNo: string) {
  req.session.orders = [outTradeNo, ...(req.session.orders ?? [])].slice(0, 50);
}

/** Sends the shopper to Alipay's cashier: a 303 to the signed URL, or the auto-submitting form. */
export function sendToCashier(req: Request, res: Response, alipay: AlipayGateway, order: Parameters<AlipayGateway['startPayment']>[0]) {
  const start = alipay.startPayment(order, { mobile: MOBILE_UA.test(req.get('user-agent') ?? ''), nonce: res.locals.cspNonce });
  if (start.kind === 'redirect') return res.redirect(303, start.url);
  res.render('orders/redirect', { title: 'Redirecting to Alipay', form: start.html });
}

export async function checkout(req: Request, res: Response, deps: OrderRouteDeps, lines: OrderLine[], opts: { clearCart?: boolean } = {}) {
  const order = await placeOrder(deps.db, { lines, ttlMinutes: deps.ttlMinutes });
  rememberOrder(req, order.outTradeNo);
  if (opts.clearCart) req.session.cart = {};
  await saveSession(req);
  req.log?.info({ outTradeNo: order.outTradeNo, totalFen: order.totalFen }, 'order placed');
  sendToCashier(req, res, deps.alipay, order);
}

export function orderRoutes(deps: OrderRouteDeps): Router {
  const { db, alipay } = deps;
  const router = Router();

  router.post('/orders', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    await checkout(req, res, deps, [{ goodsId: parseGoodsId(body.goodsId), quantity: parseQuantity(body.quantity) }]);
  });

  router.get('/orders', async (req, res) => {
    const orders = await listOrders(db, req.session.orders ?? []);
    if (req.accepts(['html', 'json']) === 'json') {
      return res.json({ orders: orders.map((o) => ({ outTradeNo: o.outTradeNo, status: o.status, totalAmount: formatYuan(o.totalFen), createdAt: o.createdAt })) });
    }
    res.render('orders/index', { title: 'My orders', orders });
  });

  router.get('/orders/:outTradeNo', async (req, res) => {
    let order = await getOrder(db, req.params.outTradeNo);
    const now = new Date();
    try {
      if (order.status === 'UNPAID' && order.expiresAt <= now) {
        await expireOrderOnRead(db, alipay.provider, alipay.merchant, order.outTradeNo, now);
        order = await getOrder(db, order.outTradeNo);
      } else if (order.status === 'UNPAID' && req.query.check === '1') {
        // The order page polls; after ~10 s without a notification it asks us to check with Alipay.
        if (await refreshPaymentStatus(db, alipay.provider, alipay.merchant, order.outTradeNo, now)) {
          order = await getOrder(db, order.outTradeNo);
        }
      }
    } catch (err) {
      req.log?.warn({ err, outTradeNo: order.outTradeNo }, 'could not check the order with Alipay; showing our state');
    }
    if (req.accepts(['html', 'json']) === 'json') return res.json(orderJson(order));
    res.render('orders/show', { title: `Order ${order.outTradeNo}`, order, payable: isPayable(order), returned: req.query.returned === '1' });
  });

  router.post('/orders/:outTradeNo/pay', async (req, res) => {
    const order = await getOrder(db, req.params.outTradeNo);
    if (!isPayable(order)) {
      throw new ConflictError(order.status === 'UNPAID' ? 'This order has expired and can no longer be paid.' : `This order is ${order.status.toLowerCase()} and cannot be paid again.`);
    }
    sendToCashier(req, res, alipay, order);
  });

  return router;
}
