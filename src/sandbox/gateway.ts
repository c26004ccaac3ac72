import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import express, { type Router } from 'express';
import type { Db } from '../db/client.js';
import { PROJECT_ROOT } from '../paths.js';
import { createSandboxAccess, formSecret } from './access.js';
import { createCashier } from './cashier.js';
import { createSandboxBills } from './bill.js';
import { createConsole } from './console.js';
import {
  createNotifier,
  fetchNotifyTransport,
  type NotifyTransport,
  type SandboxLogger,
} from './notifier.js';
import { createGatewayHandler } from './openapi.js';
import { createPagePay } from './page-pay.js';
import { createViews } from './views.js';
import { createRotateHandler, type SandboxCertMode } from './cert-mode.js';
import { createJobRunner } from '../jobs/runner.js';

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
  /** Public-key certificate mode: the gateway then signs with its current Alipay certificate's key. */
  certMode?: SandboxCertMode;
  /** SANDBOX_BILL_TODAY: serve today's trade bill (so far) instead of "no bill yet". */
  billToday?: boolean;
  /** Default: loopback clients only. `public` (SANDBOX_PUBLIC) opens the gateway and cashier links to anyone and puts the console behind `password`. */
  access?: { public: boolean; password?: string; hosts?: string[] };
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

const STATIC = path.join(PROJECT_ROOT, 'public', 'static', 'sandbox');
const silentLogger: SandboxLogger = { info() {}, warn() {}, error() {} };

export function createSandboxGateway(opts: SandboxGatewayOptions): SandboxGateway {
  const basePath = opts.basePath.replace(/\/+$/, '');
  const gatewayPath = `${basePath}/gateway.do`;
  const now = opts.now ?? (() => new Date());
  const logger = opts.logger ?? silentLogger;
  const ctx = { db: opts.db, appId: opts.appId, sellerId: opts.sellerId, now };
  const certMode = opts.certMode;
  // Read at every signature, so a certificate rotation takes effect at once.
  const signingKey = () => (certMode ? certMode.current().privateKey : opts.alipayPrivateKey);
  const notifier = createNotifier({
    db: opts.db,
    get alipayPrivateKey() {
      return signingKey();
    },
    transport: opts.transport ?? fetchNotifyTransport,
    timeScale: opts.timeScale ?? 1,
    now,
    logger,
  });
  const access = createSandboxAccess({
    public: opts.access?.public ?? false,
    password: opts.access?.password,
    hosts: opts.access?.hosts,
    secret: formSecret(opts.alipayPrivateKey),
  });
  const jobs = createJobRunner(logger);
  const views = createViews({ basePath, gatewayPath });
  const pagePay = createPagePay({ ctx, basePath });
  const bills = createSandboxBills({
    ctx,
    alipayPrivateKey: opts.alipayPrivateKey,
    alipayPublicKey: opts.alipayPublicKey,
    basePath,
    billToday: opts.billToday ?? false,
  });
  const gateway = createGatewayHandler({
    ctx,
    appPublicKey: opts.appPublicKey,
    get alipayPrivateKey() {
      return signingKey();
    },
    certMode,
    notifier,
    bills,
    pagePay,
    views,
    logger,
  });
  const cashier = createCashier({
    ctx,
    get alipayPrivateKey() {
      return signingKey();
    },
    notifier,
    views,
    formToken: access.tokenFor,
  });
  const devConsole = createConsole({
    ctx,
    appPublicKey: opts.appPublicKey,
    get alipayPublicKey() {
      return certMode ? certMode.current().publicKey : opts.alipayPublicKey;
    },
    certMode,
    basePath,
    gatewayPath,
    notifier,
    views,
    formToken: access.tokenFor,
    masked: opts.access?.public ?? false,
  });

  const router = express.Router();
  const rawBody = express.raw({ type: () => true, limit: '1mb' });
  const formBody = express.urlencoded({ extended: false, limit: '16kb' });
  const cashierForm = access.formToken((req) => `cashier:${String(req.params['id'])}`);
  const consoleForm = access.formToken(() => 'console');
  router.use(access.reachable);
  router.use('/static', express.static(STATIC, { fallthrough: false }));
  // Signed by the app's key (the signature is the authentication), as at Alipay.
  router.get('/gateway.do', gateway);
  router.post('/gateway.do', rawBody, gateway);
  router.get('/cashier/:id', cashier.showCashier);
  router.post('/cashier/:id/pay', formBody, cashierForm, cashier.pay);
  router.post('/cashier/:id/cancel', formBody, cashierForm, cashier.cancel);
  router.get('/', access.operator, devConsole.showConsole);
  router.get('/keys', access.operator, devConsole.keys);
  router.post('/console/fail-next', access.operator, formBody, consoleForm, devConsole.failNext);
  router.post('/console/trades/:id/resend', access.operator, formBody, consoleForm, devConsole.resend);
  router.post('/console/trades/:id/close', access.operator, formBody, consoleForm, devConsole.closeFromConsole);
  router.post('/console/rotate-alipay-cert', access.operator, formBody, consoleForm, createRotateHandler(certMode, basePath));
  // The shop's server fetches the bill by its signed, short-lived link (like gateway.do, open).
  router.get('/downloadBillFile.resource', bills.download);
  router.get('/console/bill', access.operator, bills.downloadFromConsole);
  router.post('/console/bill/payment', access.operator, formBody, consoleForm, bills.injectPayment);
  router.post('/console/trades/:id/refund-outside', access.operator, formBody, consoleForm, bills.refundOutside);

  return {
    router,
    gatewayPath,
    start() {
      jobs.every('sandbox notifications', opts.pollIntervalMs ?? 1000, async () => ({ attempts: await notifier.deliverDue() }));
    },
    async stop() {
      await jobs.stop();
      await notifier.settle();
    },
    deliverDueNotifications: () => notifier.deliverDue(),
    settle: () => notifier.settle(),
  };
}
