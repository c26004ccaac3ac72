import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import { wantsJson } from '../lib/wants-json.js';
import { parseYuan } from '../lib/money.js';
import {
  countOrdersByStatus,
  exportOrdersCsv,
  filtersToQuery,
  getAdminOrder,
  isShortSearch,
  listAdminOrders,
  ORDER_STATUSES,
  parseOrderFilters,
  SHORT_SEARCH_WINDOW,
} from '../shop/admin-orders.js';
import { InvalidRequestError } from '../shop/errors.js';
import { addOrderNote, closeOrder, queryOrderPayment, resolveAttention } from '../shop/order-actions.js';
import { checkRefund, newRefundFormToken, refundableFen, refundOrder } from '../shop/payments/refunds.js';
import type { Actor } from '../shop/operator-actions.js';
import { paymentDeps, type AdminDeps } from './deps.js';
import { CSV_HEADER, csvLine, itemsSummary, orderDetailJson, orderListJson } from './present.js';
import { ADMIN_BASE, operatorOf, requireAdmin } from './session.js';

function actorOf(res: Response): Actor {
  const { id, email } = operatorOf(res);
  return { id, email };
}

function field(req: Request, name: string): string {
  const value = ((req.body ?? {}) as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : '';
}

function param(req: Request, name: string): string {
  return String(req.params[name] ?? '');
}

function after(req: Request): string | undefined {
  const value = req.query.after;
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new InvalidRequestError('Give "after" once.');
  return value;
}

/** After an action: JSON gets the result, a browser goes back to the order's page. */
function done(req: Request, res: Response, outTradeNo: string, result: Record<string, unknown>) {
  if (wantsJson(req)) return res.json(result);
  res.redirect(303, `${ADMIN_BASE}/orders/${encodeURIComponent(outTradeNo)}#timeline`);
}

export function orderPages(deps: AdminDeps): Router {
  const router = Router();
  const payments = paymentDeps(deps);

  async function sendJsonList(req: Request, res: Response) {
    const page = await listAdminOrders(deps.db, parseOrderFilters(req.query), { after: after(req) });
    res.json({ orders: page.orders.map(orderListJson), nextCursor: page.nextCursor });
  }

  router.get('/orders.json', sendJsonList);

  router.get('/orders', async (req, res) => {
    if (wantsJson(req)) return sendJsonList(req, res);
    const filters = parseOrderFilters(req.query);
    const [page, { counts, cap }] = await Promise.all([
      listAdminOrders(deps.db, filters, { after: after(req) }),
      countOrdersByStatus(deps.db, filters),
    ]);
    res.render('admin/orders', {
      title: 'Orders',
      filters,
      page,
      counts,
      statuses: ORDER_STATUSES,
      countCap: cap,
      shortSearch: isShortSearch(filters.q) ? SHORT_SEARCH_WINDOW : undefined,
      query: (extra: Record<string, string | undefined> = {}, overrides: Partial<typeof filters> = {}) => filtersToQuery({ ...filters, ...overrides }, extra),
      itemsSummary,
    });
  });

  router.get('/orders.csv', async (req, res) => {
    const rows = await exportOrdersCsv(deps.db, parseOrderFilters(req.query));
    res.set('Content-Type', 'text/csv; charset=utf-8');
    res.set('Content-Disposition', `attachment; filename="orders-${new Date().toISOString().slice(0, 10)}.csv"`);
    // The BOM makes Excel read UTF-8 (Chinese names) correctly.
    res.write(`\uFEFF${csvLine(CSV_HEADER)}`);
    try {
      await pipeline(rows, res);
    } catch (err) {
      // The operator cancelled the download: the export stopped and its connection was closed.
      if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
    }
  });

  router.get('/orders/:outTradeNo', async (req, res) => {
    const detail = await getAdminOrder(deps.db, req.params.outTradeNo);
    if (wantsJson(req)) return res.json(orderDetailJson(detail));
    const { order } = detail;
    const sums = {
      succeeded: order.refunds.filter((r) => r.status === 'SUCCEEDED').reduce((s, r) => s + r.amountFen, 0),
      pending: order.refunds.filter((r) => r.status === 'PENDING').reduce((s, r) => s + r.amountFen, 0),
    };
    res.render('admin/order', {
      title: `Order ${order.outTradeNo}`,
      ...detail,
      refundable: order.status === 'PAID' ? refundableFen(order, sums) : 0,
      formToken: newRefundFormToken(),
      canAct: operatorOf(res).role === 'admin',
    });
  });

  router.post('/orders/:outTradeNo/query', requireAdmin, async (req, res) => {
    const result = await queryOrderPayment(payments, param(req, 'outTradeNo'), actorOf(res));
    done(req, res, param(req, 'outTradeNo'), result);
  });

  router.post('/orders/:outTradeNo/close', requireAdmin, async (req, res) => {
    const result = await closeOrder(payments, param(req, 'outTradeNo'), actorOf(res));
    done(req, res, param(req, 'outTradeNo'), result);
  });

  router.post('/orders/:outTradeNo/refunds', requireAdmin, async (req, res) => {
    const amount = field(req, 'amount').trim();
    if (!amount) throw new InvalidRequestError('Enter the amount to refund in yuan, e.g. 1.50.');
    const { refund, repeated } = await refundOrder(payments, {
      outTradeNo: param(req, 'outTradeNo'),
      amountFen: parseYuan(amount),
      reason: field(req, 'reason'),
      formToken: field(req, 'formToken'),
      actor: actorOf(res),
    });
    done(req, res, param(req, 'outTradeNo'), { outRequestNo: refund.outRequestNo, status: refund.status, error: refund.error, repeated });
  });

  router.post('/orders/:outTradeNo/refunds/:outRequestNo/check', requireAdmin, async (req, res) => {
    const refund = await checkRefund(payments, param(req, 'outRequestNo'), actorOf(res), { resend: true });
    done(req, res, param(req, 'outTradeNo'), { outRequestNo: refund.outRequestNo, status: refund.status, error: refund.error });
  });

  router.post('/orders/:outTradeNo/resolve', requireAdmin, async (req, res) => {
    const result = await resolveAttention(deps.db, param(req, 'outTradeNo'), field(req, 'note'), actorOf(res));
    done(req, res, param(req, 'outTradeNo'), result);
  });

  router.post('/orders/:outTradeNo/notes', requireAdmin, async (req, res) => {
    await addOrderNote(deps.db, param(req, 'outTradeNo'), field(req, 'note'), actorOf(res));
    done(req, res, param(req, 'outTradeNo'), { added: true });
  });

  return router;
}
