import express, { Router } from 'express';
import { AlipayError, AlipayNotificationError, peekNotification } from '../../alipay/index.js';
import { rawText, type AlipayPayments } from '../../payments/alipay-adapter.js';
import { confirmPayment, recordRejectedNotification } from '../../shop/payments/confirm.js';
import { Counter } from 'prom-client';
import { HttpError } from '../errors.js';
import { ORDER_LIMIT_WINDOW_MS, paymentDeps, type ShopRouteDeps } from './deps.js';

/** What is kept of a body that could not be verified: enough to diagnose, never a flood's worth. */
export const REJECTED_KEPT_CHARS = 2048;

export const rejectedNotifications = new Counter({
  name: 'shop_alipay_notify_rejected_total',
  help: 'Notifications that failed verification, by whether they were stored (per-address limit)',
  labelNames: ['stored'] as const,
});

// Alipay's routes: no session, cookies or CSRF (mounted before them).
export function alipayRoutes(deps: ShopRouteDeps): Router {
  const { db, payments } = deps;
  const router = Router();
  const storedRejections = { name: 'notify-rejected-ip', limit: deps.limits.rejectedNotifyStoredPerIpPer10Min, windowMs: ORDER_LIMIT_WINDOW_MS };

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
      deps.metrics?.notification('rejected');
      // Only bodies that fail verification are limited: a genuine notification never reaches here.
      const allowance = await deps.limiter.hit(storedRejections, req.ip ?? 'unknown');
      rejectedNotifications.inc({ stored: String(allowance.allowed) });
      if (allowance.allowed) {
        req.log?.warn({ outTradeNo: hints.outTradeNo, notifyId: hints.notifyId, outcome: 'rejected', reason, bytes: body.length }, 'alipay notification rejected');
        const kept = raw.length > REJECTED_KEPT_CHARS ? `${raw.slice(0, REJECTED_KEPT_CHARS)}…` : raw;
        await recordRejectedNotification(db, kept, `${reason} (${body.length} bytes received)`, hints);
      } else if (allowance.hits === storedRejections.limit + 1) {
        req.log?.warn({ ip: req.ip, retryAfterSeconds: allowance.retryAfterSeconds }, 'too many unverifiable notifications from this address: counting, not storing, the rest of this window');
      }
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
