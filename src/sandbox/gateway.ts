import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import ejs from 'ejs';
import express, { type Request, type Response, type Router } from 'express';
import {
  buildSignedResponse,
  formatAlipayTime,
  publicKeyToBase64,
  publicKeyToPem,
  signReturnQuery,
} from '../alipay/index.js';
import type { Db } from '../db/client.js';
import { PROJECT_ROOT } from '../paths.js';
import { createNotifier, fetchNotifyTransport, type NotifyTransport, type SandboxLogger } from './notifier.js';
import {
  GatewayError,
  PAGE_PAY_METHODS,
  businessError,
  checkOutNo,
  checkSystemParams,
  invalidParameter,
  isPagePayMethod,
  missingParameter,
  parseAmount,
  parseBizContent,
  parseGatewayRequest,
  resolveExpiry,
  successBody,
  type PagePayMethod,
} from './protocol.js';
import {
  amount,
  closeTrade,
  findTrade,
  findTradeByCashierId,
  openTrade,
  payTrade,
  refundTrade,
  tradeNotExist,
  type SandboxTrade,
} from './trades.js';

export type { NotifyTransport, SandboxLogger };

export interface SandboxGatewayOptions {
  db: Db;
  appId: string;
  /** 2088 + 12 digits. */
  sellerId: string;
  /** Verifies the app's requests. */
  appPublicKey: KeyObject;
  /** The gateway's "Alipay" key: signs notifications, returns and responses. */
  alipayPrivateKey: KeyObject;
  alipayPublicKey: KeyObject;
  /** Where the router is mounted, e.g. '/sandbox'. */
  basePath: string;
  /** Multiplies Alipay's retry schedule (2m, 10m, …); default 1. */
  timeScale?: number;
  /** Posts notifications; default fetch with a 10 s timeout. */
  transport?: NotifyTransport;
  now?: () => Date;
  logger?: SandboxLogger;
  /** How often start()'s loop looks for due notification attempts; default 1000 ms. */
  pollIntervalMs?: number;
}

export interface SandboxGateway {
  router: Router;
  /** basePath + '/gateway.do' */
  gatewayPath: string;
  /** Starts the notification retry loop. */
  start(): void;
  /** Stops the loop and waits for attempts in flight. */
  stop(): Promise<void>;
  /** One pass over due notification attempts (the loop's body); returns how many were made. */
  deliverDueNotifications(): Promise<number>;
  /** Waits for notification attempts already started (e.g. the first one after a payment). */
  settle(): Promise<void>;
}

const VIEWS = path.join(PROJECT_ROOT, 'views', 'sandbox');
const STATIC = path.join(PROJECT_ROOT, 'public', 'static', 'sandbox');
const silentLogger: SandboxLogger = { info() {}, warn() {}, error() {} };

function yuan(fen: bigint | number): string {
  return `¥${amount(fen)}`;
}

function beijing(date: Date | null | undefined): string {
  return date ? formatAlipayTime(date) : '';
}

function timeLeft(ms: number): string {
  if (ms <= 0) return 'expired';
  const minutes = Math.floor(ms / 60_000);
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  return [d ? `${d} d` : '', h ? `${h} h` : '', `${m} min`].filter(Boolean).join(' ');
}

function returnOrigin(url: string | null): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? `${parsed.origin}/` : undefined;
  } catch {
    return undefined;
  }
}

function checkUrl(name: string, value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new GatewayError('40002', 'isv.invalid-parameter', `${name} 不是合法的URL (${name} is not an absolute URL)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new GatewayError('40002', 'isv.invalid-parameter', `${name} 必须是http(s)地址 (${name} must be http or https)`);
  }
  return value;
}

export function createSandboxGateway(opts: SandboxGatewayOptions): SandboxGateway {
  const basePath = opts.basePath.replace(/\/+$/, '');
  const gatewayPath = `${basePath}/gateway.do`;
  const now = opts.now ?? (() => new Date());
  const logger = opts.logger ?? silentLogger;
  const ctx = { db: opts.db, appId: opts.appId, sellerId: opts.sellerId, now };
  const notifier = createNotifier({
    db: opts.db,
    alipayPrivateKey: opts.alipayPrivateKey,
    transport: opts.transport ?? fetchNotifyTransport,
    timeScale: opts.timeScale ?? 1,
    now,
    logger,
  });

  async function render(res: Response, view: string, data: Record<string, unknown>, status = 200): Promise<void> {
    const html = await ejs.renderFile(path.join(VIEWS, `${view}.ejs`), { basePath, gatewayPath, ...data }, { async: false });
    res.status(status).type('html').set('Cache-Control', 'no-store').send(html);
  }

  function message(
    res: Response,
    m: { title: string; heading: string; lines: string[]; tone: string; outcome: string; trade?: SandboxTrade; link?: { href: string; label: string } | undefined },
  ): Promise<void> {
    const { trade, ...rest } = m;
    return render(res, 'message', {
      ...rest,
      trade: trade && { outTradeNo: trade.outTradeNo, tradeNo: trade.tradeNo, amount: yuan(trade.totalFen), status: trade.status },
    });
  }

  // ---- OpenAPI ---------------------------------------------------------------------------------

  function sendApi(res: Response, method: string, body: Record<string, string>, flags: { error?: boolean; unsigned?: boolean } = {}): void {
    // Escaped slashes like Alipay's gateway; clients must verify the raw text, never re-serialised JSON.
    const text = buildSignedResponse(method, body, opts.alipayPrivateKey, {
      error: flags.error ?? false,
      omitSign: flags.unsigned ?? false,
      escapeSlashes: true,
    });
    // JSON rather than Alipay's text/html: the body can echo request text, which must not become markup.
    res.status(200).type('application/json; charset=utf-8').send(text);
  }

  function tradeLookup(biz: Record<string, string>) {
    const outTradeNo = biz['out_trade_no'];
    const tradeNo = biz['trade_no'];
    if (!outTradeNo && !tradeNo) {
      throw businessError('ACQ.INVALID_PARAMETER', '参数无效 (out_trade_no or trade_no is required)');
    }
    return { outTradeNo, tradeNo };
  }

  async function requireTrade(biz: Record<string, string>): Promise<SandboxTrade> {
    const trade = await findTrade(ctx, tradeLookup(biz));
    if (!trade) throw tradeNotExist();
    return trade;
  }

  const paid = (t: SandboxTrade) => t.paidAt !== null;

  const api: Record<string, (biz: Record<string, string>) => Promise<Record<string, string>>> = {
    async 'alipay.trade.query'(biz) {
      const trade = await requireTrade(biz);
      const total = amount(trade.totalFen);
      return successBody({
        trade_no: trade.tradeNo,
        out_trade_no: trade.outTradeNo,
        buyer_logon_id: trade.buyerLogonId ?? undefined,
        buyer_user_id: trade.buyerId ?? undefined,
        trade_status: trade.status,
        total_amount: total,
        send_pay_date: trade.paidAt ? formatAlipayTime(trade.paidAt) : undefined,
        buyer_pay_amount: paid(trade) ? total : '0.00',
        point_amount: '0.00',
        invoice_amount: paid(trade) ? total : '0.00',
        receipt_amount: paid(trade) ? total : '0.00',
      });
    },

    async 'alipay.trade.close'(biz) {
      const trade = await closeTrade(ctx, await requireTrade(biz));
      return successBody({ trade_no: trade.tradeNo, out_trade_no: trade.outTradeNo });
    },

    async 'alipay.trade.refund'(biz) {
      const trade = await requireTrade(biz);
      const refundFen = parseAmount('refund_amount', biz['refund_amount']);
      const outRequestNo = checkOutNo('out_request_no', biz['out_request_no'] || trade.outTradeNo);
      const reason = biz['refund_reason'];
      if (reason !== undefined && reason.length > 256) throw invalidParameter('refund_reason', 'must be at most 256 characters');
      const outcome = await refundTrade(ctx, trade.id, { outRequestNo, refundFen, reason });
      if (outcome.notificationId !== undefined) notifier.kick(outcome.notificationId);
      return successBody({
        trade_no: outcome.trade.tradeNo,
        out_trade_no: outcome.trade.outTradeNo,
        buyer_logon_id: outcome.trade.buyerLogonId ?? undefined,
        buyer_user_id: outcome.trade.buyerId ?? undefined,
        fund_change: outcome.fundChange ? 'Y' : 'N',
        refund_fee: amount(outcome.trade.refundedFen),
        gmt_refund_pay: formatAlipayTime(outcome.refund.createdAt),
      });
    },

    async 'alipay.trade.fastpay.refund.query'(biz) {
      const lookup = tradeLookup(biz);
      const outRequestNo = biz['out_request_no'];
      if (!outRequestNo) throw missingParameter('out_request_no');
      const trade = await findTrade(ctx, lookup);
      if (!trade) throw tradeNotExist();
      const refund = await opts.db.sandboxRefund.findUnique({
        where: { tradeId_outRequestNo: { tradeId: trade.id, outRequestNo } },
      });
      // Alipay's way of saying "no such refund": success without refund_amount.
      if (!refund) return successBody({});
      return successBody({
        trade_no: trade.tradeNo,
        out_trade_no: trade.outTradeNo,
        out_request_no: outRequestNo,
        total_amount: amount(trade.totalFen),
        refund_amount: amount(refund.refundFen),
        refund_status: 'REFUND_SUCCESS',
        gmt_refund_pay: formatAlipayTime(refund.createdAt),
      });
    },
  };

  // ---- page / wap pay --------------------------------------------------------------------------

  async function pagePay(res: Response, method: PagePayMethod, params: Record<string, string>): Promise<void> {
    const biz = parseBizContent(params);
    const outTradeNo = checkOutNo('out_trade_no', biz['out_trade_no']);
    const totalFen = parseAmount('total_amount', biz['total_amount']);
    const subject = biz['subject'];
    if (subject === undefined || subject.trim() === '') throw missingParameter('subject');
    if (subject.length > 256) throw invalidParameter('subject', 'must be at most 256 characters');
    const productCode = biz['product_code'];
    if (!productCode) throw missingParameter('product_code');
    if (productCode !== PAGE_PAY_METHODS[method]) {
      throw invalidParameter('product_code', `${method} needs product_code ${PAGE_PAY_METHODS[method]}, got ${productCode}`);
    }
    const body = biz['body'];
    if (body !== undefined && body.length > 128) throw invalidParameter('body', 'must be at most 128 characters');
    const trade = await openTrade(ctx, {
      method,
      productCode,
      outTradeNo,
      totalFen,
      subject,
      body,
      passbackParams: biz['passback_params'],
      notifyUrl: checkUrl('notify_url', params['notify_url']),
      returnUrl: checkUrl('return_url', params['return_url']),
      expiresAt: resolveExpiry(biz, now()),
    });
    res.redirect(302, `${basePath}/cashier/${trade.cashierId}`);
  }

  async function gateway(req: Request, res: Response): Promise<void> {
    const q = req.originalUrl.indexOf('?');
    const rawQuery = q < 0 ? '' : req.originalUrl.slice(q + 1);
    const body = req.method === 'POST' && Buffer.isBuffer(req.body) ? req.body : undefined;
    let method: string | undefined = new URLSearchParams(rawQuery).get('method') ?? undefined;
    try {
      const parsed = parseGatewayRequest(rawQuery, body);
      method = parsed.params['method'];
      checkSystemParams(parsed, { appId: opts.appId, appPublicKey: opts.appPublicKey, now: now() });
      if (isPagePayMethod(method)) return await pagePay(res, method, parsed.params);
      const handler = api[method as string] as (biz: Record<string, string>) => Promise<Record<string, string>>;
      const biz = parseBizContent(parsed.params);
      sendApi(res, method as string, await handler(biz));
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      logger.warn({ method, subCode: err.subCode, subMsg: err.subMsg }, 'sandbox gateway refused a request');
      if (isPagePayMethod(method)) {
        await render(res, 'error', { title: 'Error', error: { ...err.toBody(), code: err.code, msg: err.msg, subCode: err.subCode, subMsg: err.subMsg, signString: err.signString }, method });
        return;
      }
      sendApi(res, method ?? 'error', err.toBody(), { error: err.errorEnvelope, unsigned: err.unsigned });
    }
  }

  // ---- cashier ---------------------------------------------------------------------------------

  function signedReturnUrl(trade: SandboxTrade): string | undefined {
    if (!trade.returnUrl) return undefined;
    const query = signReturnQuery(
      {
        method: `${trade.method}.return`,
        app_id: opts.appId,
        auth_app_id: opts.appId,
        charset: 'utf-8',
        out_trade_no: trade.outTradeNo,
        trade_no: trade.tradeNo,
        total_amount: amount(trade.totalFen),
        seller_id: opts.sellerId,
        timestamp: formatAlipayTime(now()),
        version: '1.0',
      },
      opts.alipayPrivateKey,
      { charset: 'utf-8' },
    );
    return `${trade.returnUrl}${trade.returnUrl.includes('?') ? '&' : '?'}${query}`;
  }

  function notFound(res: Response): Promise<void> {
    res.status(404);
    return render(res, 'message', {
      title: 'Not found',
      heading: 'No such cashier session',
      lines: ['This payment link is unknown to the sandbox gateway.'],
      tone: 'error',
      outcome: 'not-found',
    }, 404);
  }

  function statusPage(res: Response, trade: SandboxTrade, outcome: 'already-paid' | 'expired' | 'closed'): Promise<void> {
    const back = returnOrigin(trade.returnUrl);
    if (outcome === 'already-paid') {
      const ret = signedReturnUrl(trade);
      return message(res, {
        title: 'Already paid',
        heading: '交易已被支付 — this trade has already been paid (ACQ.TRADE_HAS_SUCCESS)',
        lines: ['Nothing more to pay.'],
        tone: 'warning',
        outcome,
        trade,
        link: ret ? { href: ret, label: 'Back to the merchant' } : back ? { href: back, label: 'Back to the merchant' } : undefined,
      });
    }
    return message(res, {
      title: outcome === 'expired' ? 'Expired' : 'Closed',
      heading:
        outcome === 'expired'
          ? '交易已超时关闭 — the time to pay has expired; the trade is closed (ACQ.TRADE_HAS_CLOSE)'
          : '交易已经关闭 — this trade is closed (ACQ.TRADE_HAS_CLOSE)',
      lines: ['It can no longer be paid. Place the order again at the merchant.'],
      tone: 'error',
      outcome,
      trade,
      link: back ? { href: back, label: 'Back to the merchant' } : undefined,
    });
  }

  async function showCashier(req: Request, res: Response): Promise<void> {
    const cashierId = String(req.params['id']);
    const trade = await findTradeByCashierId(ctx, cashierId);
    if (!trade) return notFound(res);
    if (trade.status === 'TRADE_SUCCESS' || trade.status === 'TRADE_FINISHED') return statusPage(res, trade, 'already-paid');
    if (trade.status === 'TRADE_CLOSED') {
      return statusPage(res, trade, trade.closedAt?.getTime() === trade.expiresAt.getTime() ? 'expired' : 'closed');
    }
    await render(res, 'cashier', {
      title: 'Cashier',
      appId: opts.appId,
      cashierId,
      script: 'cashier.js',
      trade: {
        subject: trade.subject,
        body: trade.body,
        amount: yuan(trade.totalFen),
        outTradeNo: trade.outTradeNo,
        tradeNo: trade.tradeNo,
        expiresAtText: beijing(trade.expiresAt),
        expiresAtIso: trade.expiresAt.toISOString(),
        timeLeft: timeLeft(trade.expiresAt.getTime() - now().getTime()),
      },
    });
  }

  async function pay(req: Request, res: Response): Promise<void> {
    const outcome = await payTrade(ctx, String(req.params['id']));
    if (!outcome) return notFound(res);
    if (outcome.kind !== 'paid') return statusPage(res, outcome.trade, outcome.kind);
    // The first notification attempt runs in the background: a slow shop must not hold the buyer.
    if (outcome.notificationId !== undefined) notifier.kick(outcome.notificationId);
    const ret = signedReturnUrl(outcome.trade);
    if (ret) return res.redirect(302, ret);
    await message(res, {
      title: 'Paid',
      heading: '支付成功 — Payment successful',
      lines: ['The merchant gave no return_url; you can close this page.'],
      tone: 'success',
      outcome: 'paid',
      trade: outcome.trade,
    });
  }

  async function cancel(req: Request, res: Response): Promise<void> {
    const trade = await findTradeByCashierId(ctx, String(req.params['id']));
    if (!trade) return notFound(res);
    const back = returnOrigin(trade.returnUrl);
    // Alipay has no cancel redirect: the trade stays WAIT_BUYER_PAY until it expires or is closed.
    await message(res, {
      title: 'Cancelled',
      heading: '已取消支付 — Payment cancelled',
      lines: ['Nothing was paid. You can close this page, or go back to the merchant.'],
      tone: 'warning',
      outcome: 'cancelled',
      trade,
      link: back ? { href: back, label: 'Back to the merchant' } : undefined,
    });
  }

  // ---- console and keys ------------------------------------------------------------------------

  async function showConsole(req: Request, res: Response): Promise<void> {
    const trades = await opts.db.sandboxTrade.findMany({
      where: { appId: opts.appId },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: 100,
      include: { notifications: { orderBy: { id: 'desc' }, include: { attempts: { orderBy: { attemptNo: 'asc' } } } } },
    });
    await render(res, 'console', {
      title: 'Console',
      appId: opts.appId,
      sellerId: opts.sellerId,
      gatewayUrl: `${req.protocol}://${req.get('host') ?? 'localhost'}${gatewayPath}`,
      forcedFailures: await notifier.forcedFailures(),
      trades: trades.map((t) => ({
        id: t.id,
        outTradeNo: t.outTradeNo,
        tradeNo: t.tradeNo,
        subject: t.subject,
        amount: yuan(t.totalFen),
        refunded: t.refundedFen > 0n ? yuan(t.refundedFen) : '',
        status: t.status === 'WAIT_BUYER_PAY' && t.expiresAt.getTime() <= now().getTime() ? 'TRADE_CLOSED' : t.status,
        createdAt: beijing(t.createdAt),
        cashierHref: `${basePath}/cashier/${t.cashierId}`,
        notifications: t.notifications.map((n) => ({
          kind: n.kind,
          notifyId: n.notifyId,
          url: n.url,
          status: n.status,
          nextAttemptAt: n.status === 'PENDING' ? beijing(n.nextAttemptAt) : '',
          attempts: n.attempts.map((a) => ({
            attemptNo: a.attemptNo,
            attemptedAt: beijing(a.attemptedAt),
            trigger: a.trigger,
            ok: a.ok,
            result: a.ok ? `HTTP ${a.httpStatus ?? ''} success` : a.httpStatus !== null ? `HTTP ${a.httpStatus}` : (a.error ?? 'failed'),
            response: a.response ?? a.error ?? '',
          })),
        })),
      })),
    });
  }

  function consoleTradeId(req: Request): number | undefined {
    const id = Number(req.params['id']);
    return Number.isSafeInteger(id) && id > 0 ? id : undefined;
  }

  async function resend(req: Request, res: Response): Promise<void> {
    const id = consoleTradeId(req);
    const latest = id === undefined ? null : await opts.db.sandboxNotification.findFirst({ where: { tradeId: id }, orderBy: { id: 'desc' } });
    if (latest) await notifier.resend(latest.id);
    res.redirect(303, `${basePath}/#trade-${id ?? ''}`);
  }

  async function closeFromConsole(req: Request, res: Response): Promise<void> {
    const id = consoleTradeId(req);
    const trade = id === undefined ? null : await opts.db.sandboxTrade.findUnique({ where: { id } });
    if (trade) {
      try {
        await closeTrade(ctx, trade);
      } catch (err) {
        if (!(err instanceof GatewayError)) throw err;
      }
    }
    res.redirect(303, `${basePath}/#trade-${id ?? ''}`);
  }

  async function failNext(req: Request, res: Response): Promise<void> {
    const raw = (req.body as Record<string, unknown> | undefined)?.['n'];
    const n = Number(typeof raw === 'string' ? raw : NaN);
    if (Number.isSafeInteger(n) && n >= 0 && n <= 1000) await notifier.setForcedFailures(n);
    res.redirect(303, `${basePath}/`);
  }

  function keys(req: Request, res: Response): Promise<void> | void {
    const info = {
      gateway_url: `${req.protocol}://${req.get('host') ?? 'localhost'}${gatewayPath}`,
      app_id: opts.appId,
      seller_id: opts.sellerId,
      app_public_key: publicKeyToBase64(opts.appPublicKey),
      app_public_key_pem: publicKeyToPem(opts.appPublicKey),
      alipay_public_key: publicKeyToBase64(opts.alipayPublicKey),
      alipay_public_key_pem: publicKeyToPem(opts.alipayPublicKey),
    };
    if (req.accepts(['html', 'json']) === 'json') {
      res.json(info);
      return;
    }
    return render(res, 'keys', { title: 'Keys', info });
  }

  const router = express.Router();
  const rawBody = express.raw({ type: () => true, limit: '1mb' });
  const formBody = express.urlencoded({ extended: false, limit: '16kb' });
  router.use('/static', express.static(STATIC, { fallthrough: false }));
  router.get('/gateway.do', gateway);
  router.post('/gateway.do', rawBody, gateway);
  router.get('/cashier/:id', showCashier);
  router.post('/cashier/:id/pay', pay);
  router.post('/cashier/:id/cancel', cancel);
  router.get('/', showConsole);
  router.get('/keys', keys);
  router.post('/console/fail-next', formBody, failNext);
  router.post('/console/trades/:id/resend', resend);
  router.post('/console/trades/:id/close', closeFromConsole);

  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let pass: Promise<unknown> = Promise.resolve();
  const pollMs = opts.pollIntervalMs ?? 1000;

  function schedule(): void {
    timer = setTimeout(() => {
      pass = notifier
        .deliverDue()
        .catch((err: unknown) => logger.error({ err }, 'sandbox notification pass failed'))
        .finally(() => {
          if (running) schedule();
        });
    }, pollMs);
    timer.unref();
  }

  return {
    router,
    gatewayPath,
    start() {
      if (running) return;
      running = true;
      schedule();
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      await pass;
      await notifier.settle();
    },
    deliverDueNotifications: () => notifier.deliverDue(),
    settle: () => notifier.settle(),
  };
}
