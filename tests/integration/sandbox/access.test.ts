import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Express, Router } from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPagePayParams, buildPagePayUrl } from '../../../src/alipay/index.js';
import { loadConfig, type Env } from '../../../src/config.js';
import { createLogger } from '../../../src/logger.js';
import { createAlipayPayments } from '../../../src/payments/alipay-adapter.js';
import { ensureSandboxKeys } from '../../../src/sandbox/keys.js';
import { setUpPayments } from '../../../src/wiring.js';
import { buildApp } from '../../support/app.js';
import { useTestDatabase } from '../../support/db.js';

const t = useTestDatabase();
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of stops) await stop();
});

async function sandboxApp(env: Env = {}) {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sandbox-access-'));
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: dataDir, ...env });
  const lines: { obj: unknown; msg?: string }[] = [];
  const logger = createLogger('silent');
  const spy = Object.assign(Object.create(logger) as typeof logger, {
    warn: (obj: unknown, msg?: string) => void lines.push({ obj, msg }),
    info: (obj: unknown, msg?: string) => void lines.push({ obj, msg }),
    child: () => logger,
  });
  const setup = await setUpPayments(config, t.db, spy);
  stops.push(() => setup.sandbox!.stop());
  const app = buildApp(t.db, {
    config,
    payments: createAlipayPayments(setup.settings, config.publicBaseUrl),
    sandbox: { basePath: '/sandbox', router: setup.sandbox!.router },
  });
  const keys = await ensureSandboxKeys(path.join(dataDir, 'keys'));
  /** A page pay request as the shop would send the buyer; returns the cashier path. */
  const openCashier = async (agent = request(app)) => {
    const outTradeNo = `T${Date.now()}${Math.random().toString(16).slice(2, 10)}`;
    const params = buildPagePayParams({
      appId: keys.appId,
      privateKey: keys.appPrivateKey,
      kind: 'page',
      outTradeNo,
      totalAmountFen: 119_800,
      subject: 'Someone else’s order',
      notifyUrl: 'http://127.0.0.1:9/alipay/notify',
      returnUrl: 'http://127.0.0.1:9/alipay/return',
    });
    const res = await agent.get(buildPagePayUrl('/sandbox/gateway.do', params)).expect(302);
    return { cashier: res.headers['location'] as string, outTradeNo };
  };
  return { app, config, dataDir, lines, setup, openCashier };
}

const tokenOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1];

/** Every POST route of the sandbox router except the signed OpenAPI gateway. */
function formPosts(router: Router): string[] {
  const stack = (router as unknown as { stack: { route?: { path: string; methods: Record<string, boolean> } }[] }).stack;
  return stack.flatMap((layer) => (layer.route?.methods['post'] && layer.route.path !== '/gateway.do' ? [layer.route.path] : []));
}

/** The machine's first non-loopback address, to reach the app as a stranger would. */
function externalAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  }
  return undefined;
}

async function listenOnAll(app: Express) {
  const server = app.listen(0, '0.0.0.0');
  await new Promise((resolve) => server.once('listening', resolve));
  stops.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

describe('the built-in sandbox, by default (loopback only)', () => {
  it('answers this machine: console, cashier, Pay with the page’s token', async () => {
    const s = await sandboxApp();
    await request(s.app).get('/sandbox/').expect(200);
    const { cashier } = await s.openCashier();
    const page = await request(s.app).get(cashier).expect(200);
    await request(s.app).post(`${cashier}/pay`).type('form').send({ _csrf: tokenOf(page.text)! }).expect(302);
  });

  it('refuses a client on another machine everything: console, cashier, Pay (the ¥1,198 attack)', async () => {
    const s = await sandboxApp();
    const { cashier } = await s.openCashier();
    const address = externalAddress();
    if (address) {
      const port = await listenOnAll(s.app);
      const stranger = request(`http://${address}:${port}`);
      await stranger.get('/sandbox/').expect(403);
      await stranger.get(cashier).expect(403);
      await stranger.post(`${cashier}/pay`).expect(403);
      await stranger.get('/sandbox/gateway.do').expect(403);
      await stranger.get('/').expect(200);
    }
    // Through a reverse proxy on this machine (the peer is loopback, the client is not):
    await request(s.app).get('/sandbox/').set('X-Forwarded-For', '203.0.113.9').expect(403);
    await request(s.app).get(cashier).set('Forwarded', 'for=203.0.113.9').expect(403);
    // A DNS-rebound name pointing at 127.0.0.1:
    await request(s.app).get('/sandbox/').set('Host', 'evil.example').expect(403);
    const [trade] = await t.sql<{ status: string }>(`SELECT status FROM sandbox_trades WHERE cashier_id = $1`, [cashier.split('/').pop()]);
    expect(trade?.status).toBe('WAIT_BUYER_PAY');
  });

  it('refuses every sandbox form POST without its token, and changes nothing', async () => {
    const s = await sandboxApp();
    const { cashier } = await s.openCashier();
    const id = cashier.split('/').pop()!;
    const [trade] = await t.sql<{ id: number }>(`SELECT id FROM sandbox_trades WHERE cashier_id = $1`, [id]);
    const posts = formPosts(s.setup.sandbox!.router);
    expect(posts.length).toBeGreaterThanOrEqual(5);
    const consoleToken = tokenOf((await request(s.app).get('/sandbox/').expect(200)).text)!;
    for (const route of posts) {
      const url = `/sandbox${route.replace(':id', route.startsWith('/cashier') ? id : String(trade!.id))}`;
      await request(s.app).post(url).type('form').send({ n: '3' }).expect(403);
      await request(s.app).post(url).type('form').send({ n: '3', _csrf: 'x'.repeat(43) }).expect(403);
      // A token of another form (the console's) does not open a cashier, and the reverse.
      const other = route.startsWith('/cashier') ? consoleToken : tokenOf((await request(s.app).get(cashier)).text)!;
      await request(s.app).post(url).type('form').send({ n: '3', _csrf: other }).expect(403);
    }
    const [after] = await t.sql<{ status: string }>(`SELECT status FROM sandbox_trades WHERE id = $1`, [trade!.id]);
    expect(after?.status).toBe('WAIT_BUYER_PAY');
    expect(await t.sql(`SELECT 1 FROM sandbox_settings WHERE fail_notifications > 0`)).toHaveLength(0);
  });
});

describe('a public sandbox (SANDBOX_PUBLIC=true, a shared demo)', () => {
  it('puts the console behind the sandbox password, generated into DATA_DIR and logged when unset', async () => {
    const s = await sandboxApp({ SANDBOX_PUBLIC: 'true' });
    const file = path.join(s.dataDir, 'sandbox-password');
    expect(existsSync(file)).toBe(true);
    const password = (await readFile(file, 'utf8')).trim();
    expect(password.length).toBeGreaterThanOrEqual(20);
    expect(JSON.stringify(s.lines)).toContain(password);
    const remote = (r: request.Test) => r.set('X-Forwarded-For', '203.0.113.9');
    const console401 = await remote(request(s.app).get('/sandbox/')).expect(401);
    expect(console401.headers['www-authenticate']).toMatch(/^Basic/);
    await remote(request(s.app).get('/sandbox/keys')).auth('sandbox', 'wrong-password').expect(401);
    await remote(request(s.app).post('/sandbox/console/fail-next')).type('form').send({ n: '5' }).expect(401);
    await remote(request(s.app).get('/sandbox/')).auth('anyone', password).expect(200);
  });

  it('lets a shopper pay their own trade by its cashier link, with the page’s token', async () => {
    const s = await sandboxApp({ SANDBOX_PUBLIC: 'true', SANDBOX_PASSWORD: 'demo-password-123' });
    const { cashier } = await s.openCashier();
    const page = await request(s.app).get(cashier).set('X-Forwarded-For', '203.0.113.9').expect(200);
    await request(s.app).post(`${cashier}/pay`).set('X-Forwarded-For', '203.0.113.9').type('form').send({}).expect(403);
    await request(s.app).post(`${cashier}/pay`).set('X-Forwarded-For', '203.0.113.9').type('form').send({ _csrf: tokenOf(page.text)! }).expect(302);
  });

  it('lists trades without the out_trade_no or cashier link that would let a stranger act on them', async () => {
    const s = await sandboxApp({ SANDBOX_PUBLIC: 'true', SANDBOX_PASSWORD: 'demo-password-123' });
    const { cashier, outTradeNo } = await s.openCashier();
    const consolePage = await request(s.app).get('/sandbox/').auth('x', 'demo-password-123').expect(200);
    expect(consolePage.text).toContain(outTradeNo.slice(0, 8));
    expect(consolePage.text).not.toContain(outTradeNo);
    expect(consolePage.text).not.toContain(cashier.split('/').pop()!);
    // With the password, console forms still need their token.
    await request(s.app).post('/sandbox/console/fail-next').auth('x', 'demo-password-123').type('form').send({ n: '2' }).expect(403);
    await request(s.app)
      .post('/sandbox/console/fail-next')
      .auth('x', 'demo-password-123')
      .type('form')
      .send({ n: '2', _csrf: tokenOf(consolePage.text)! })
      .expect(303);
  });
});
