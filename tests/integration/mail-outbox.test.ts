import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/accounts/passwords.js';
import { countMailByStatus, createMailSubscribers, createMailWorker, listFailedMail, retryFailedMail } from '../../src/mail/outbox.js';
import { setUpMail } from '../../src/mail/setup.js';
import { createFileTransport, createSmtpTransport } from '../../src/mail/transport.js';
import type { ShopEvents } from '../../src/shop/events.js';
import { placeOrder } from '../../src/shop/orders.js';
import { notifyFields, NOTIFY_CONTENT_TYPE, PUBLIC_BASE_URL, signAsAlipay } from '../support/alipay.js';
import { buildApp, testConfig } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';
import { linkIn, startSmtpServer, type TestSmtpServer } from '../support/smtp.js';

const t = useTestDatabase();
const FROM = '"支付宝商店 Alipay Shop" <shop@shop.test>';
let smtp: TestSmtpServer;
let app: Express;
let tea: number;
let cup: number;
const subscribers = createMailSubscribers({ publicBaseUrl: PUBLIC_BASE_URL });

beforeAll(async () => {
  smtp = await startSmtpServer();
  app = buildApp(t.db, { events: subscribers.shop, accountEvents: subscribers.accounts });
  tea = (await t.db.goods.create({ data: { name: '西湖龙井 West Lake tea', priceFen: 12_800 } })).id;
  cup = (await t.db.goods.create({ data: { name: '茶杯 Cup', priceFen: 3_990 } })).id;
});

afterAll(async () => {
  await smtp?.stop();
});

let shopperCounter = 0;
let passwordHash: string;
async function newShopper(verified = true) {
  passwordHash ??= await hashPassword('not used in these tests');
  const email = `buyer${++shopperCounter}.${Date.now()}@example.com`;
  return t.db.shopper.create({ data: { email, passwordHash, emailVerifiedAt: verified ? new Date() : null } });
}

function worker(opts: { url?: string; maxAttempts?: number } = {}) {
  return createMailWorker({ db: t.db, transport: createSmtpTransport(opts.url ?? smtp.url), from: FROM, maxAttempts: opts.maxAttempts });
}

function notify(body: string) {
  return request(app).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).send(body);
}

async function paidOrderOf(shopperId: number | undefined) {
  const order = await placeOrder(t.db, { lines: [{ goodsId: tea, quantity: 2 }, { goodsId: cup, quantity: 1 }], ttlMinutes: 30, shopperId });
  await notify(signAsAlipay(notifyFields(order))).expect(200, 'success');
  return order;
}

describe('payment received', () => {
  it('emails the account owner a receipt: Chinese subject and names encoded, items, total, a working link', async () => {
    const shopper = await newShopper();
    const order = await paidOrderOf(shopper.id);
    expect(await worker().deliverDue()).toMatchObject({ sent: 1 });

    const [mail] = smtp.to(shopper.email);
    expect(mail).toBeDefined();
    expect(mail!.subject).toBe(`付款成功 Payment received · ${order.outTradeNo}`);
    expect(mail!.raw.toString('latin1')).toMatch(/^Subject: =\?UTF-8\?[QB]\?/m); // RFC 2047, not raw bytes
    expect(mail!.parsed.from?.value[0]).toMatchObject({ name: '支付宝商店 Alipay Shop', address: 'shop@shop.test' });
    expect(mail!.parsed.messageId).toMatch(/^<outbox-\d+-\d+@shop\.test>$/);
    for (const part of [mail!.text, mail!.html]) {
      expect(part).toContain(order.outTradeNo);
      expect(part).toContain('西湖龙井 West Lake tea');
      expect(part).toContain('茶杯 Cup');
      expect(part).toContain('¥295.90'); // 2 × 128.00 + 39.90
      expect(part).toContain('我们已收到您的付款');
      expect(part).toContain('We received your payment');
    }
    const link = linkIn(mail!.text, '/orders/');
    expect(link).toBe(`${PUBLIC_BASE_URL}/orders/${order.outTradeNo}`);
    const page = await request(app).get(link.replace(PUBLIC_BASE_URL, '')).expect(200);
    expect(page.text).toContain('PAID');
    expect(await t.db.mailMessage.findFirst({ where: { dedupeKey: `order-paid:${order.id}` } })).toMatchObject({ status: 'SENT', attempts: 1 });
  });

  it('a guest order has nobody to write to: no message', async () => {
    const order = await paidOrderOf(undefined);
    expect(await t.db.mailMessage.count({ where: { dedupeKey: `order-paid:${order.id}` } })).toBe(0);
  });

  it('the message is written in the transaction of the payment: if that rolls back, neither exists', async () => {
    const failing: ShopEvents = {
      orderPaid: async (tx, event) => {
        await subscribers.shop.orderPaid!(tx, event);
        throw new Error('the commit fails after the message was written');
      },
    };
    const failingApp = buildApp(t.db, { events: failing });
    const shopper = await newShopper();
    const order = await placeOrder(t.db, { lines: [{ goodsId: tea, quantity: 1 }], ttlMinutes: 30, shopperId: shopper.id });
    const res = await request(failingApp).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).send(signAsAlipay(notifyFields(order)));
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect((await t.db.order.findUniqueOrThrow({ where: { id: order.id } })).status).toBe('UNPAID');
    expect(await t.db.mailMessage.count({ where: { dedupeKey: `order-paid:${order.id}` } })).toBe(0);
  });
});

describe('exactly once', () => {
  it('when the same notification arrives several times at once while several workers send, one email goes out (5 rounds)', async () => {
    const workers = [worker(), worker(), worker()];
    for (let round = 0; round < 5; round++) {
      const shopper = await newShopper();
      const order = await placeOrder(t.db, { lines: [{ goodsId: cup, quantity: 1 }], ttlMinutes: 30, shopperId: shopper.id });
      const body = signAsAlipay(notifyFields(order));
      // Warm the pool so the requests really overlap, then release them together with the workers.
      await Promise.all(Array.from({ length: 12 }, () => t.db.$queryRaw`SELECT 1`));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const notifications = Array.from({ length: 8 }, () => gate.then(() => notify(body)));
      const sends = workers.flatMap((w) => [gate.then(() => w.deliverDue()), gate.then(() => new Promise((r) => setTimeout(r, 20))).then(() => w.deliverDue())]);
      release();
      const replies = await Promise.all(notifications);
      expect(replies.map((r) => `${r.status} ${r.text}`)).toEqual(Array(8).fill('200 success'));
      await Promise.all(sends);
      await Promise.all(workers.map((w) => w.deliverDue()));

      expect(smtp.to(shopper.email), `round ${round}`).toHaveLength(1);
      expect(await t.db.mailMessage.findMany({ where: { toAddress: shopper.email } })).toEqual([expect.objectContaining({ status: 'SENT', attempts: 1 })]);
    }
  });

  it('when the SMTP server is down, the message waits and is sent once when it is back', async () => {
    const w = worker({ maxAttempts: 5 });
    const shopper = await newShopper();
    await smtp.stop();
    try {
      await paidOrderOf(shopper.id);
      expect(await w.deliverDue()).toEqual({ sent: 0, retrying: 1, failed: 0 });
      const waiting = await t.db.mailMessage.findFirstOrThrow({ where: { toAddress: shopper.email } });
      expect(waiting).toMatchObject({ status: 'PENDING', attempts: 1 });
      expect(waiting.lastError).toMatch(/ECONNREFUSED|connect/i);
      expect(waiting.nextAttemptAt.getTime()).toBeGreaterThan(Date.now() + 20_000); // backoff
      expect((await countMailByStatus(t.db)).retrying).toBeGreaterThanOrEqual(1);
      expect(await w.deliverDue()).toEqual({ sent: 0, retrying: 0, failed: 0 }); // not due yet
    } finally {
      await smtp.start();
    }
    const later = new Date(Date.now() + 60_000);
    const [a, b] = await Promise.all([w.deliverDue(later), worker().deliverDue(later)]);
    expect(a.sent + b.sent).toBe(1);
    expect(smtp.to(shopper.email)).toHaveLength(1);
    expect(await t.db.mailMessage.findFirstOrThrow({ where: { toAddress: shopper.email } })).toMatchObject({ status: 'SENT', attempts: 2, lastError: null });
  });

  it('after the last attempt a message is FAILED and listed for operators; a retry sends it', async () => {
    const shopper = await newShopper();
    await paidOrderOf(shopper.id);
    const dead = worker({ url: `smtp://127.0.0.1:1`, maxAttempts: 2 });
    let now = Date.now();
    expect((await dead.deliverDue(new Date(now))).retrying).toBeGreaterThanOrEqual(1);
    now += 3_600_000;
    expect((await dead.deliverDue(new Date(now))).failed).toBeGreaterThanOrEqual(1);
    const failed = await listFailedMail(t.db);
    const mine = failed.find((m) => m.toAddress === shopper.email);
    expect(mine).toMatchObject({ kind: 'payment-received', attempts: 2 });
    expect(mine!.lastError).toBeTruthy();
    expect(await worker().deliverDue(new Date(now + 3_600_000))).toMatchObject({ sent: 0 }); // FAILED stays put

    expect(await retryFailedMail(t.db, mine!.id)).toBe(true);
    expect(await retryFailedMail(t.db, mine!.id)).toBe(false);
    await worker().deliverDue();
    expect(smtp.to(shopper.email)).toHaveLength(1);
  });

  it('a message claimed by a worker that died is taken over once its claim has run out', async () => {
    const shopper = await newShopper();
    const order = await paidOrderOf(shopper.id);
    await t.sql(`UPDATE mail_messages SET status = 'SENDING', attempts = 1, locked_until = now() + interval '5 minutes' WHERE dedupe_key = $1`, [`order-paid:${order.id}`]);
    expect((await worker().deliverDue()).sent).toBe(0);
    expect((await worker().deliverDue(new Date(Date.now() + 6 * 60_000))).sent).toBe(1);
    expect(smtp.to(shopper.email)).toHaveLength(1);
  });
});

describe('refund made', () => {
  it('emails the amount refunded and what is left; a repeated refund notification sends nothing more', async () => {
    const shopper = await newShopper(false);
    const order = await paidOrderOf(shopper.id);
    const refund = signAsAlipay(notifyFields(order, { refund_fee: '100.00', gmt_refund: '2026-11-25 20:00:00', out_biz_no: 'R1', notify_id: `r1${order.outTradeNo}` }));
    await Promise.all([notify(refund), notify(refund), notify(refund)]);
    await worker().deliverDue();
    const mails = smtp.to(shopper.email);
    expect(mails.map((m) => m.subject)).toEqual([`付款成功 Payment received · ${order.outTradeNo}`, `退款已办理 Refund made · ${order.outTradeNo}`]);
    expect(mails[0]!.text).toContain('Reminder: your email is not confirmed yet');
    const text = mails[1]!.text;
    expect(text).toContain('¥100.00');
    expect(text).toContain('¥195.90 left');
    expect(text).toContain('剩余 ¥195.90');
  });
});

describe('without SMTP (zero config)', () => {
  it('writes .eml files to DATA_DIR/mail and lists them at /dev/mail with working links', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'mail-dev-'));
    try {
      const config = testConfig({ DATA_DIR: dataDir, NODE_ENV: 'development' });
      const mail = setUpMail(config, t.db);
      expect(mail.devMailDir).toBe(path.join(dataDir, 'mail'));
      const devApp = buildApp(t.db, { config, events: mail.subscribers.shop, accountEvents: mail.subscribers.accounts, devMailDir: mail.devMailDir });
      const agent = request.agent(devApp);
      const home = await agent.get('/').expect(200);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(home.text)![1]!;
      const email = `dev${Date.now()}@example.com`;
      await agent.post('/account/signup').type('form').send({ _csrf: csrf, email, password: 'dev mailbox password' }).expect(200);
      await mail.worker.deliverDue();

      expect((await readdir(mail.devMailDir!)).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
      const list = await agent.get('/dev/mail').expect(200);
      const name = /href="\/dev\/mail\/([^"]+)"/.exec(list.text)![1]!;
      expect(list.text).toContain('请确认您的邮箱 Confirm your email');
      const shown = await agent.get(`/dev/mail/${name}`).expect(200);
      const link = /<a href="(http:\/\/shop\.test\/account\/verify\?token=[^"]+)"/.exec(shown.text)![1]!;
      await agent.get(link.replace(PUBLIC_BASE_URL, '').replaceAll('&amp;', '&')).expect(200).expect(/Email confirmed/);
      const source = await agent.get(`/dev/mail/${name}/source`).expect(200);
      expect(source.text).toMatch(/^Subject: =\?UTF-8\?/m);
      await agent.get('/dev/mail/..%2F..%2Fetc%2Fpasswd').expect(404);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('is never used in production: startup asks for SMTP_URL, and /dev/mail does not exist', async () => {
    const production = testConfig({ NODE_ENV: 'production', SESSION_SECRET: 'x'.repeat(32) });
    expect(() => setUpMail(production, t.db)).toThrow(/SMTP_URL must be set in production/);
    const prodApp = buildApp(t.db, { config: production, devMailDir: os.tmpdir() });
    await request(prodApp).get('/dev/mail').expect(404);
    expect(setUpMail(testConfig({ NODE_ENV: 'production', SMTP_URL: smtp.url }), t.db).devMailDir).toBeUndefined();
    const files = createFileTransport(os.tmpdir());
    files.close();
  });
});
