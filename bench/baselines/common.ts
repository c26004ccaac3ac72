// The "typical" and "lean" contenders share everything but the Alipay crypto: an Express 5 + Prisma
// app the way the popular tutorials write it (no sessions, no CSRF, no security headers), logging
// each request at the shop's level (LOG_LEVEL) so neither side is measured without its logs.
import { randomBytes } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import express from 'express';
import { pinoHttp } from 'pino-http';
import { PrismaClient } from '../../src/generated/prisma/client.js';

export interface BaselineCrypto {
  /** The parsed notification's signature is valid. */
  verifyNotification(fields: Record<string, string>): boolean;
  /** The signed alipay.trade.page.pay URL (GET). */
  pagePayUrl(bizContent: Record<string, unknown>, notifyUrl: string, returnUrl: string): string;
}

export const env = {
  port: Number(process.env.PORT ?? 3100),
  databaseUrl: process.env.DATABASE_URL!,
  appId: process.env.ALIPAY_APP_ID!,
  appPrivateKey: process.env.ALIPAY_APP_PRIVATE_KEY!,
  alipayPublicKey: process.env.ALIPAY_PUBLIC_KEY!,
  gateway: process.env.ALIPAY_GATEWAY!,
  publicBaseUrl: process.env.PUBLIC_BASE_URL ?? 'http://127.0.0.1',
};

export function startBaseline(crypto: BaselineCrypto) {
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: env.databaseUrl, max: 10 }) });
  const app = express();
  app.disable('x-powered-by');
  // One line per request, with the same small serializers as the shop's.
  app.use(
    pinoHttp({
      level: process.env.LOG_LEVEL ?? 'info',
      serializers: { req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url }), res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }) },
    }),
  );

  app.post('/alipay/notify', express.urlencoded({ extended: false }), async (req, res) => {
    const fields = req.body as Record<string, string>;
    if (!crypto.verifyNotification(fields)) return res.status(400).send('fail');
    const order = await prisma.order.findUnique({ where: { outTradeNo: fields.out_trade_no } });
    if (!order || Math.round(Number(fields.total_amount) * 100) !== order.totalFen || fields.app_id !== env.appId) {
      return res.status(400).send('fail');
    }
    if (fields.trade_status === 'TRADE_SUCCESS' || fields.trade_status === 'TRADE_FINISHED') {
      await prisma.$transaction(async (tx) => {
        const { count } = await tx.order.updateMany({
          where: { id: order.id, status: 'UNPAID' },
          data: { status: 'PAID', tradeNo: fields.trade_no, buyerLogonId: fields.buyer_logon_id, paidAt: new Date(fields.gmt_payment ?? Date.now()) },
        });
        await tx.paymentEvent.create({
          data: {
            source: 'NOTIFY', orderId: order.id, outTradeNo: order.outTradeNo, notifyId: fields.notify_id, tradeStatus: fields.trade_status,
            verified: true, outcome: count === 1 ? 'applied' : 'duplicate', rawBody: new URLSearchParams(fields).toString(),
          },
        });
      });
    }
    res.send('success');
  });

  app.post('/orders', express.urlencoded({ extended: false }), async (req, res) => {
    const goodsId = Number(req.body.goodsId);
    const quantity = Number(req.body.quantity ?? 1);
    if (!Number.isInteger(goodsId) || !Number.isInteger(quantity) || quantity < 1 || quantity > 99) return res.status(400).send('bad request');
    const goods = await prisma.goods.findUnique({ where: { id: goodsId } });
    if (!goods || !goods.active) return res.status(404).send('not found');
    const order = await prisma.order.create({
      data: {
        outTradeNo: `${Date.now()}${randomBytes(8).toString('hex')}`,
        totalFen: goods.priceFen * quantity,
        subject: goods.name,
        expiresAt: new Date(Date.now() + 15 * 60_000),
        items: { create: [{ goodsId, name: goods.name, unitPriceFen: goods.priceFen, quantity }] },
      },
    });
    const url = crypto.pagePayUrl(
      {
        out_trade_no: order.outTradeNo,
        product_code: 'FAST_INSTANT_TRADE_PAY',
        total_amount: (order.totalFen / 100).toFixed(2),
        subject: order.subject,
      },
      `${env.publicBaseUrl}/alipay/notify`,
      `${env.publicBaseUrl}/alipay/return`,
    );
    res.redirect(303, url);
  });

  app.listen(env.port, '127.0.0.1', () => console.log(`baseline listening on ${env.port}`));
}
