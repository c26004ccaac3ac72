import express, { Router } from 'express';
import { AlipayError, AlipayNotificationError } from '../../alipay/index.js';
import type { Db } from '../../db/client.js';
import { confirmPayment, recordRejectedNotification } from '../../shop/payments.js';
import type { AlipayGateway } from '../alipay-gateway.js';
import { rawText } from '../alipay-gateway.js';
import { HttpError } from '../errors.js';

function hint(raw: string, name: string): string | undefined {
  const match = new RegExp(`(?:^|&)${name}=([^&]*)`).exec(raw);
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1].replace(/\+/g, ' ')).replaceAll('\u0000', '');
  } catch {
    return undefined;
  }
}

// Alipay's routes: no session, cookies or CSRF (mounted before them).
export function alipayRoutes(deps: { db: Db; alipay: AlipayGateway }): Router {
  const { db, alipay } = deps;
  const router = Router();

  // Alipay posts `application/x-www-form-urlencoded; text/html; charset=…` (GBK too): read the raw
  // bytes whatever the Content-Type and let the Alipay module decode and verify them.
  router.post('/alipay/notify', express.raw({ type: () => true, limit: '256kb' }), async (req, res) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const raw = rawText(body);
    let read: ReturnType<AlipayGateway['readNotification']>;
    try {
      read = alipay.readNotification(body);
    } catch (err) {
      if (!(err instanceof AlipayError)) throw err;
      const reason = err instanceof AlipayNotificationError ? `${err.reason}: ${err.message}` : err.message;
      req.log?.warn({ reason }, 'alipay notification rejected');
      await recordRejectedNotification(db, raw, reason, {
        outTradeNo: hint(raw, 'out_trade_no'),
        notifyId: hint(raw, 'notify_id'),
        tradeStatus: hint(raw, 'trade_status'),
      });
      return res.status(400).type('text/plain').send('fail');
    }
    const result = await confirmPayment(db, read.report, alipay.merchant);
    req.log?.info({ outTradeNo: read.report.outTradeNo, notifyId: read.report.notifyId, ...result }, 'alipay notification');
    if (result.outcome === 'rejected') return res.status(400).type('text/plain').send('fail');
    // Only now, after the commit: anything but exactly `success` makes Alipay retry.
    res.status(200).type('text/plain').send('success');
  });

  router.get('/alipay/return', (req, res) => {
    const queryString = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
    let outTradeNo: string;
    try {
      ({ outTradeNo } = alipay.readReturn(queryString));
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
