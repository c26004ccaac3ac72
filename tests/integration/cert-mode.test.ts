import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AlipayCertError,
  buildPagePayParams,
  buildPagePayUrl,
  createAlipayClient,
  fetchTransport,
  generateRsaKeyPair,
  signNotification,
  type Transport,
} from '../../src/alipay/index.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createAlipayCertStore } from '../../src/db/alipay-cert-store.js';
import { createLogger } from '../../src/logger.js';
import { createAlipayPayments, type AlipaySettings } from '../../src/payments/alipay-adapter.js';
import { loadCertMode } from '../../src/payments/alipay-cert-mode.js';
import { generateSandboxCa } from '../../src/sandbox/ca.js';
import { certFileNames, ensureSandboxCertMode, type SandboxCertMode } from '../../src/sandbox/cert-mode.js';
import { createSandboxGateway } from '../../src/sandbox/gateway.js';
import { ensureSandboxKeys, gatewayKeyOptions, type SandboxKeys } from '../../src/sandbox/keys.js';
import { seedGoods } from '../../src/shop/seed.js';
import { setUpPayments, type PaymentsSetup } from '../../src/wiring.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';
import { buildNotification } from '../support/notifications.js';
import { shopper } from '../support/shopper.js';

const t = useTestDatabase();

let server: Server;
let base: string;
let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
let config: Config;
let setup: PaymentsSetup;
let app: express.Express;
let keys: SandboxKeys;
let keysDir: string;
let goodsId: number;

const DOWNLOAD = 'alipay.open.app.alipaycert.download';

/** A transport over real HTTP that counts the requests per method. */
function countingTransport(counts: Map<string, number>): Transport {
  return async (req) => {
    const method = new URLSearchParams(req.body).get('method') ?? '';
    counts.set(method, (counts.get(method) ?? 0) + 1);
    return fetchTransport(req);
  };
}

function paymentsWith(settings: AlipaySettings, counts: Map<string, number>) {
  return createAlipayPayments({ ...settings, transport: countingTransport(counts) }, base);
}

async function orderStatus(outTradeNo: string): Promise<string | undefined> {
  return (await t.db.order.findUnique({ where: { outTradeNo } }))?.status;
}

/** Submits a sandbox form the way its page does: with the page's form token. */
async function pressForm(app: Parameters<typeof request>[0], page: string, action: string) {
  const html = (await request(app).get(page).expect(200)).text;
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  return request(app).post(action).type('form').send({ _csrf: token });
}

/** Buy → gateway → cashier → Pay, through HTTP; the sandbox then notifies the shop over real HTTP. */
async function buyAndPay() {
  const s = await shopper(app);
  const bought = await s.buy(goodsId);
  const toCashier = await request(app).get(bought.url.pathname + bought.url.search).expect(302);
  expect((await pressForm(app, toCashier.headers.location!, `${toCashier.headers.location}/pay`)).status).toBe(302);
  await setup.sandbox!.settle();
  return bought;
}

beforeAll(async () => {
  await seedGoods(t.db);
  goodsId = (await t.db.goods.findFirstOrThrow({ where: { active: true } })).id;
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'cert-mode-'));
  keysDir = path.join(dataDir, 'keys');
  config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: dataDir, PUBLIC_BASE_URL: base, SANDBOX_CERT_MODE: 'true' });
  setup = await setUpPayments(config, t.db, createLogger('silent'));
  keys = await ensureSandboxKeys(keysDir);
  app = buildApp(t.db, {
    config,
    payments: createAlipayPayments(setup.settings, base),
    sandbox: { basePath: '/sandbox', router: setup.sandbox!.router },
  });
  handler = app;
}, 120_000);

afterAll(async () => {
  await setup?.sandbox?.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('certificate mode against the built-in sandbox (SANDBOX_CERT_MODE=true)', () => {
  it('generates the files under Alipay names into DATA_DIR/keys', () => {
    const names = certFileNames(keys.appId);
    for (const name of Object.values(names)) expect(existsSync(path.join(keysDir, name))).toBe(true);
    expect(setup.settings.certificates?.appCertSn).toMatch(/^[0-9a-f]{32}$/);
    expect(setup.settings.certificates?.alipayRootCertSn).toMatch(/^[0-9a-f]{32}$/);
  });

  it('buy → pay → notify → PAID, every request carrying both signed SNs', async () => {
    const bought = await buyAndPay();
    expect(bought.url.searchParams.get('app_cert_sn')).toBe(setup.settings.certificates!.appCertSn);
    expect(bought.url.searchParams.get('alipay_root_cert_sn')).toBe(setup.settings.certificates!.alipayRootCertSn);
    expect(await orderStatus(bought.outTradeNo)).toBe('PAID');
    const notifications = await t.db.paymentEvent.findMany({ where: { outTradeNo: bought.outTradeNo } });
    expect(notifications.length).toBeGreaterThan(0);
  });

  it('the gateway refuses a wrong app_cert_sn, a wrong alipay_root_cert_sn and a request without them', async () => {
    const params = (certSns?: { appCertSn: string; alipayRootCertSn: string }) =>
      buildPagePayParams({
        appId: keys.appId,
        privateKey: keys.appPrivateKey,
        kind: 'page',
        outTradeNo: `CERT_${Date.now()}`,
        totalAmountFen: 100,
        subject: 'x',
        ...(certSns && { certSns }),
      });
    const good = setup.settings.certificates!;
    const wrongApp = await request(app).get(buildPagePayUrl('/sandbox/gateway.do', params({ ...good, appCertSn: '0'.repeat(32) }))).expect(200);
    expect(wrongApp.text).toContain('isv.invalid-app-cert-sn');
    const wrongRoot = await request(app).get(buildPagePayUrl('/sandbox/gateway.do', params({ ...good, alipayRootCertSn: '0'.repeat(32) }))).expect(200);
    expect(wrongRoot.text).toContain('isv.invalid-alipay-root-cert-sn');
    const none = await request(app).get(buildPagePayUrl('/sandbox/gateway.do', params())).expect(200);
    expect(none.text).toContain('isv.missing-app-cert-sn');
    await request(app).get(buildPagePayUrl('/sandbox/gateway.do', params(good))).expect(302);

    const client = createAlipayClient({
      gatewayUrl: `${base}/sandbox/gateway.do`,
      appId: keys.appId,
      privateKey: keys.appPrivateKey,
      alipayPublicKey: setup.settings.alipayPublicKey,
      certificates: { ...good, appCertSn: 'f'.repeat(32) },
    });
    expect(await client.queryTrade({ outTradeNo: 'NOPE' })).toMatchObject({ kind: 'business-error', code: '40002', subCode: 'isv.invalid-app-cert-sn' });
  });
});

describe('Alipay certificate rotation during traffic', () => {
  it('after a rotation, responses signed with the new certificate verify after exactly one download, cached in the database', async () => {
    const paid = await buyAndPay();
    const counts = new Map<string, number>();
    const payments = paymentsWith(setup.settings, counts);
    const lookups = () => Promise.all(Array.from({ length: 8 }, () => payments.lookup(paid.outTradeNo)));

    for (const r of await lookups()) expect(r?.state).toBe('paid');
    expect(counts.get(DOWNLOAD)).toBeUndefined();

    expect((await pressForm(app, '/sandbox/keys', '/sandbox/console/rotate-alipay-cert')).status).toBe(303);
    for (let round = 0; round < 3; round++) {
      for (const r of await lookups()) expect(r?.state).toBe('paid');
    }
    expect(counts.get(DOWNLOAD)).toBe(1);
    const stored = await t.db.alipayCertificate.findMany();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.sn).not.toBe(setup.settings.certificates!.keyring.currentSn);
    const shown = await request(app).get('/sandbox/keys').set('Accept', 'application/json').expect(200);
    expect(shown.body.cert_mode).toMatchObject({ alipay_cert_sn: stored[0]!.sn, app_cert_sn: setup.settings.certificates!.appCertSn });
    expect((await request(app).get('/sandbox/keys').expect(200)).text).toContain('/sandbox/console/rotate-alipay-cert');

    // Another instance (or a restart) finds it in the database: no download.
    const files = await ensureSandboxCertMode(keysDir, keys);
    const other = loadCertMode(files.files, keys.appPrivateKey, { store: createAlipayCertStore(t.db) });
    const otherCounts = new Map<string, number>();
    const otherPayments = paymentsWith({ ...setup.settings, alipayPublicKey: other.alipayPublicKey, certificates: other.certificates }, otherCounts);
    expect((await otherPayments.lookup(paid.outTradeNo))?.state).toBe('paid');
    expect(otherCounts.get(DOWNLOAD)).toBeUndefined();
  });

  it('a notification signed with a rotated certificate is accepted once the shop has downloaded it', async () => {
    const counts = new Map<string, number>();
    const payments = paymentsWith(setup.settings, counts);
    expect((await pressForm(app, '/sandbox/keys', '/sandbox/console/rotate-alipay-cert')).status).toBe(303);
    // Any API response (here a query) carries the new alipay_cert_sn: the shop downloads it once.
    await payments.lookup('CERT_UNKNOWN_ORDER');
    expect(counts.get(DOWNLOAD)).toBe(1);
    const bought = await buyAndPay();
    expect(await orderStatus(bought.outTradeNo)).toBe('PAID');
  });

  it('a certificate that does not chain to the root bundle is refused, never cached, and what it signs is rejected', async () => {
    const rogueCa = await generateSandboxCa({ label: 'Rogue CA' });
    const rogueKey = generateRsaKeyPair().privateKey;
    const roguePem = await rogueCa.issue({ commonName: 'Alipay Sandbox Gateway', publicKey: rogueKey });
    const { state } = await ensureSandboxCertMode(keysDir, keys);
    const { parseCertificates, certificateSn } = await import('../../src/alipay/index.js');
    const rogueSn = certificateSn(parseCertificates(roguePem, 'rogue')[0]!);
    const rogueMode: SandboxCertMode = {
      ...state,
      current: () => ({ ...state.current(), sn: rogueSn, privateKey: rogueKey, pem: roguePem }),
      certificateContent: (sn) => (sn === rogueSn ? roguePem : state.certificateContent(sn)),
    };
    const rogue = createSandboxGateway({ db: t.db, ...gatewayKeyOptions(keys), certMode: rogueMode, basePath: '/rogue' });
    const rogueApp = express().use('/rogue', rogue.router);
    handler = rogueApp;
    try {
      const counts = new Map<string, number>();
      const payments = createAlipayPayments(
        { ...setup.settings, gatewayUrl: `${base}/rogue/gateway.do`, transport: countingTransport(counts) },
        base,
      );
      await expect(payments.lookup('ANY')).rejects.toThrow(AlipayCertError);
      await expect(payments.lookup('ANY')).rejects.toThrow(/does not chain to the Alipay root certificate bundle/);
      expect(counts.get(DOWNLOAD)).toBeGreaterThanOrEqual(1);
      expect(await t.db.alipayCertificate.findUnique({ where: { sn: rogueSn } })).toBeNull();

      const body = signNotification(buildNotification({ app_id: keys.appId }, { outTradeNo: 'X', totalFen: 100 }), rogueKey);
      expect(() => payments.readNotification(Buffer.from(body))).toThrow(/signature is invalid/);
    } finally {
      handler = app;
      await rogue.stop();
    }
  });
});
