import express, { Router } from 'express';
import { AlipayError, AlipayNotificationError, peekNotification } from '../../alipay/index.js';
import { rawText, type AlipayPayments } from '../../payments/alipay-adapter.js';
import { confirmPayment, recordRejectedNotification } from '../../shop/payments/confirm.js';
import { HttpError } from '../errors.js';
import { paymentDeps, type ShopRouteDeps } from './deps.js';

// Alipay's routes: no session, cookies or CSRF (mounted before them).
export function alipayRoutes(deps: ShopRouteDeps): Router {
  const { db, payments } = deps;
  const router = Router();

  // Alipay posts `application/x-www-form-urlencoded; text/html; charset=…` (GBK too): read the raw
  // bytes whatever the Content-Type and let the Alipay module decode and verify them.
  router.post('/alipay/notify', express.raw({ type: () => true, limit: '256kb' }), async (req, res) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const raw = rawText(body);
    let read: ReturnType<AlipayPayments['readNotification']>;
    try {
      read = payments.readNotification(body);
    } catch (err) {
      if (!(err instanceof AlipayError)) throw err;
      const reason = err instanceof AlipayNotificationError ? `${err.reason}: ${err.message}` : err.message;
      const hints = peekNotification(raw);
      req.log?.warn({ outTradeNo: hints.outTradeNo, notifyId: hints.notifyId, outcome: 'rejected', reason }, 'alipay notification rejected');
      deps.metrics?.notification('rejected');
      await recordRejectedNotification(db, raw, reason, hints);
      return res.status(400).type('text/plain').send('fail');
    }
    let result: Awaited<ReturnType<typeof confirmPayment>>;
    try {
      result = await confirmPayment(paymentDeps(deps), read.report);
    } catch (err) {
      // Not stored (the database failed us): anything but `success` makes Alipay send it again.
      req.log?.error({ err, outTradeNo: read.report.outTradeNo, notifyId: read.report.notifyId, outcome: 'error' }, 'alipay notification not applied');
      deps.metrics?.notification('error');
      throw err;
    }
    deps.metrics?.notification(result.outcome);
    if (result.outcome === 'applied') deps.metrics?.orderTransition(result.status);
    req.log?.info({ outTradeNo: read.report.outTradeNo, notifyId: read.report.notifyId, ...result }, 'alipay notification');
    if (result.outcome === 'rejected') return res.status(400).type('text/plain').send('fail');
    // Only now, after the commit: anything but exactly `success` makes Alipay retry.
    res.status(200).type('text/plain').send('success');
  });

  router.get('/alipay/return', (req, res) => {
    const queryString = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
    let outTradeNo: string;
    try {
      ({ outTradeNo } = payments.readReturn(queryString));
    } catch (err) {
      if (!(err instanceof AlipayError)) throw err;
      req.log?.warn({ err: err.message }, 'alipay return could not be verified');
      throw new HttpError(400, 'We could not verify the payment result sent back by Alipay. If you paid, your order will be updated as soon as Alipay confirms it — check "My orders".');
    }
    // Never mark anything paid here: the order page shows the database state and checks.
    res.redirect(302, `/orders/${encodeURIComponent(outTradeNo)}?returned=1`);
  });

  return router;
}
