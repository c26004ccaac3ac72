import { createHash } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShopperAccounts, SHOPPER_LIMITS } from '../../src/accounts/shoppers.js';
import { createRateLimiter } from '../../src/db/rate-limiter.js';
import { purgeExpiredTokens } from '../../src/accounts/tokens.js';
import { pino } from 'pino';
import { createMailSubscribers, createMailWorker } from '../../src/mail/outbox.js';
import { createSmtpTransport } from '../../src/mail/transport.js';
import { placeOrder } from '../../src/shop/orders.js';
import { accountRoutes } from '../../src/web/routes/account.js';
import { notifyFields, NOTIFY_CONTENT_TYPE, PUBLIC_BASE_URL, signAsAlipay } from '../support/alipay.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';
import { linkIn, startSmtpServer, type TestSmtpServer } from '../support/smtp.js';

const t = useTestDatabase();
let app: Express;
let smtp: TestSmtpServer;
let worker: ReturnType<typeof createMailWorker>;
let tea: number;
let cup: number;
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  smtp = await startSmtpServer();
  const subscribers = createMailSubscribers({ publicBaseUrl: PUBLIC_BASE_URL });
  app = buildApp(t.db, { env: { TRUST_PROXY: 'true' }, events: subscribers.shop, accountEvents: subscribers.accounts });
  worker = createMailWorker({ db: t.db, transport: createSmtpTransport(smtp.url), from: '"支付宝商店 Alipay Shop" <shop@shop.test>' });
  tea = (await t.db.goods.create({ data: { name: '龙井 Account tea', priceFen: 1_000 } })).id;
  cup = (await t.db.goods.create({ data: { name: 'Account cup', priceFen: 500 } })).id;
});

afterAll(async () => {
  await smtp?.stop();
});

let ipCounter = 0;
let emailCounter = 0;
const newEmail = () => `shopper${++emailCounter}.${Date.now()}@example.com`;

/** A browser (its own cookie jar) coming from its own IP address (X-Forwarded-For, TRUST_PROXY=true). */
async function browser(ip = `198.51.100.${++ipCounter}`) {
  const agent = request.agent(app);
  const page = await agent.get('/').set('X-Forwarded-For', ip).expect(200);
  const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1]!;
  return {
    agent,
    ip,
    get: (path: string) => agent.get(path).set('X-Forwarded-For', ip),
    getJson: (path: string) => agent.get(path).set('X-Forwarded-For', ip).set('Accept', 'application/json'),
    post: (path: string, form: Record<string, string> = {}) => agent.post(path).set('X-Forwarded-For', ip).type('form').send({ _csrf: token, ...form }),
    /** The shop.sid cookie value this browser holds. */
    sid(): string | undefined {
      const cookie = agent.jar.getCookie('shop.sid', { domain: '127.0.0.1', path: '/', secure: false, script: false });
      return cookie?.value;
    },
  };
}
type Browser = Awaited<ReturnType<typeof browser>>;

async function mailTo(address: string, count = 1) {
  await worker.deliverDue();
  const mails = smtp.to(address);
  expect(mails).toHaveLength(count);
  return mails[count - 1]!;
}

const pathOf = (link: string) => link.replace(PUBLIC_BASE_URL, '');

async function signUp(b: Browser, email: string, password = PASSWORD) {
  const res = await b.post('/account/signup', { email, password });
  expect(res.status).toBe(200);
  expect(res.text).toContain('Check your mailbox');
  return res;
}

function signIn(b: Browser, email: string, password = PASSWORD) {
  return b.post('/account/signin', { email, password });
}

/** A verified account, signed in in a fresh browser. */
async function verifiedShopper() {
  const b = await browser();
  const email = newEmail();
  await signUp(b, email);
  const mail = await mailTo(email);
  await b.get(pathOf(linkIn(mail.text, '/account/verify'))).expect(200);
  await signIn(b, email).expect(303);
  return { b, email, shopper: await t.db.shopper.findUniqueOrThrow({ where: { email } }) };
}

function sessionRow(sid: string) {
  // The cookie is s:<sid>.<signature>
  const id = decodeURIComponent(sid).slice(2).split('.')[0]!;
  return t.db.session.findUnique({ where: { sid: id } });
}

describe('sign-up, verification, sign-in and sign-out', () => {
  it('signs up, emails a verification link that works once, signs in and out', async () => {
    const b = await browser();
    const email = newEmail();
    await signUp(b, `  ${email.toUpperCase()} `);
    expect(b.sid()).toBeUndefined(); // signing up does not sign in: the answer must not depend on the email being new

    const mail = await mailTo(email);
    expect(mail.envelopeTo).toEqual([email]);
    expect(mail.subject).toBe('请确认您的邮箱 Confirm your email');
    expect(mail.parsed.from?.value[0]).toMatchObject({ name: '支付宝商店 Alipay Shop', address: 'shop@shop.test' });
    expect(mail.html).toContain('/account/verify?token=');
    const link = linkIn(mail.text, '/account/verify');
    expect(link.startsWith(`${PUBLIC_BASE_URL}/account/verify?token=`)).toBe(true);

    const shopper = await t.db.shopper.findUniqueOrThrow({ where: { email } });
    expect(shopper.emailVerifiedAt).toBeNull();
    expect(shopper.passwordHash).toMatch(/^scrypt\$/);

    await b.get(pathOf(link)).expect(200).expect(/Email confirmed/);
    expect((await t.db.shopper.findUniqueOrThrow({ where: { email } })).emailVerifiedAt).not.toBeNull();
    await b.get(pathOf(link)).expect(400).expect(/not valid/); // single use

    const signedIn = await signIn(b, email).expect(303);
    expect(signedIn.headers.location).toBe('/account');
    const account = await b.get('/account').expect(200);
    expect(account.text).toContain(email);
    expect(account.text).toContain('confirmed');

    await b.post('/account/signout').expect(303);
    const after = await b.get('/account').expect(303);
    expect(after.headers.location).toBe('/account/signin?next=%2Faccount');
  });

  it('sign-up with an email that has an account answers the same and emails the owner, not a verification link', async () => {
    const { email, shopper } = await verifiedShopper();
    const before = smtp.to(email).length;
    const fresh = await browser();
    const taken = await signUp(fresh, email, 'another long password');
    const other = await browser();
    const newOne = await signUp(other, newEmail(), 'another long password');
    const strip = (html: string) => html.replace(/<strong>[^<]*<\/strong>/, '').replace(/name="_csrf" value="[^"]+"/g, '');
    expect(strip(taken.text)).toBe(strip(newOne.text));
    expect(await t.db.shopper.count({ where: { email } })).toBe(1);
    expect((await t.db.shopper.findUniqueOrThrow({ where: { email } })).passwordHash).toBe(shopper.passwordHash);
    const warning = await mailTo(email, before + 1);
    expect(warning.subject).toContain('Someone tried to sign up with your email');
    expect(warning.text).not.toContain('/account/verify');
  });

  it('refuses a short or common password and a malformed email with a clear 400, creating nothing', async () => {
    const b = await browser();
    const email = newEmail();
    expect((await b.post('/account/signup', { email, password: 'short' }).expect(400)).text).toContain('at least 10 characters');
    expect((await b.post('/account/signup', { email, password: 'qwertyuiop' }).expect(400)).text).toContain('too common');
    expect((await b.post('/account/signup', { email, password: email }).expect(400)).text).toContain('too common');
    expect((await b.post('/account/signup', { email: 'not-an-email', password: PASSWORD }).expect(400)).text).toContain('valid email');
    expect(await t.db.shopper.count({ where: { email } })).toBe(0);
  });

  it('an unknown email and a wrong password get the same answer', async () => {
    const { email } = await verifiedShopper();
    const wrong = await signIn(await browser(), email, 'wrong password 123');
    const unknown = await signIn(await browser(), newEmail(), 'wrong password 123');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const message = (text: string) => /id="form-error"[^>]*>([^<]*)</.exec(text)?.[1];
    expect(message(wrong.text)).toBe('The email or password is not right.');
    expect(message(unknown.text)).toBe(message(wrong.text));
  });

  it('goes back to a local page after signing in, never to another site', async () => {
    const { email } = await verifiedShopper();
    const b = await browser();
    expect((await b.post('/account/signin', { email, password: PASSWORD, next: '/orders' })).headers.location).toBe('/orders');
    const c = await browser();
    expect((await c.post('/account/signin', { email, password: PASSWORD, next: '//evil.example/x' })).headers.location).toBe('/account');
  });
});

describe('sessions', () => {
  it('gives a new session id at sign-in; the old id (fixation) is dead and not signed in', async () => {
    const { email } = await verifiedShopper();
    const b = await browser();
    await b.post('/cart/items', { goodsId: String(tea), quantity: '1' }).expect(303);
    const guestSid = b.sid()!;
    expect(await sessionRow(guestSid)).not.toBeNull();
    await signIn(b, email).expect(303);
    const signedSid = b.sid()!;
    expect(signedSid).not.toBe(guestSid);
    expect(await sessionRow(guestSid)).toBeNull();

    // An attacker who planted (or kept) the old id gets a signed-out visitor.
    const planted = await request(app).get('/account').set('Cookie', `shop.sid=${guestSid}`);
    expect(planted.status).toBe(303);
    expect(planted.headers.location).toMatch(/^\/account\/signin/);
  });

  it('changing the password signs out every other device, keeps this one', async () => {
    const { b, email } = await verifiedShopper();
    const phone = await browser();
    await signIn(phone, email).expect(303);
    await phone.get('/account').expect(200);
    await b.post('/account/password', { current: PASSWORD, password: 'a brand new password' }).expect(303);
    await b.get('/account').expect(200);
    await phone.get('/account').expect(303);
    await signIn(await browser(), email, PASSWORD).expect(401);
    await signIn(await browser(), email, 'a brand new password').expect(303);
  });
});

describe('cart and orders follow the account', () => {
  it('merges the guest cart into the account cart, adding quantities capped at the line maximum', async () => {
    const { b, email, shopper } = await verifiedShopper();
    await b.post('/cart/items', { goodsId: String(tea), quantity: '95' }).expect(303);
    expect((await t.db.shopper.findUniqueOrThrow({ where: { id: shopper.id } })).cart).toEqual({ [tea]: 95 });

    const laptop = await browser();
    await laptop.post('/cart/items', { goodsId: String(tea), quantity: '7' }).expect(303);
    await laptop.post('/cart/items', { goodsId: String(cup), quantity: '2' }).expect(303);
    await signIn(laptop, email).expect(303);
    expect((await t.db.shopper.findUniqueOrThrow({ where: { id: shopper.id } })).cart).toEqual({ [tea]: 99, [cup]: 2 });
    const cart = await laptop.get('/cart').expect(200);
    expect(cart.text).toContain('value="99"');
    // The first device sees the same cart.
    expect((await b.get('/cart').expect(200)).text).toContain('Account cup');
  });

  it('attaches the guest orders of this browser at sign-in, not those of other browsers', async () => {
    const { email, shopper } = await verifiedShopper();
    const laptop = await browser();
    const mine = await laptop.post('/orders', { goodsId: String(tea), quantity: '1' }).expect(303);
    const mineNo = JSON.parse(new URL(mine.headers.location!).searchParams.get('biz_content')!).out_trade_no as string;
    const stranger = await browser();
    const theirs = await stranger.post('/orders', { goodsId: String(tea), quantity: '1' }).expect(303);
    const theirsNo = JSON.parse(new URL(theirs.headers.location!).searchParams.get('biz_content')!).out_trade_no as string;

    await signIn(laptop, email).expect(303);
    expect((await t.db.order.findUniqueOrThrow({ where: { outTradeNo: mineNo } })).shopperId).toBe(shopper.id);
    expect((await t.db.order.findUniqueOrThrow({ where: { outTradeNo: theirsNo } })).shopperId).toBeNull();

    // A second device ("phone", another cookie jar) lists it after signing in.
    const phone = await browser();
    await signIn(phone, email).expect(303);
    const list = (await phone.getJson('/orders').expect(200)).body as { orders: { outTradeNo: string }[] };
    expect(list.orders.map((o) => o.outTradeNo)).toEqual([mineNo]);
  });

  it('signed in, a new order belongs to the account and /orders pages through all of them (keyset)', async () => {
    const { b, shopper } = await verifiedShopper();
    const res = await b.post('/orders', { goodsId: String(cup), quantity: '2' }).expect(303);
    const outTradeNo = JSON.parse(new URL(res.headers.location!).searchParams.get('biz_content')!).out_trade_no as string;
    expect((await t.db.order.findUniqueOrThrow({ where: { outTradeNo } })).shopperId).toBe(shopper.id);
    for (let i = 0; i < 24; i++) await placeOrder(t.db, { lines: [{ goodsId: tea, quantity: 1 }], ttlMinutes: 30, shopperId: shopper.id });
    await placeOrder(t.db, { lines: [{ goodsId: tea, quantity: 1 }], ttlMinutes: 30 }); // someone else's

    const phone = await browser();
    await signIn(phone, shopper.email).expect(303);
    const first = (await phone.getJson('/orders').expect(200)).body as { orders: { outTradeNo: string }[]; nextBefore: number };
    expect(first.orders).toHaveLength(20);
    expect(first.orders[first.orders.length - 1]!.outTradeNo).not.toBe(outTradeNo);
    const second = (await phone.getJson(`/orders?before=${first.nextBefore}`).expect(200)).body as { orders: { outTradeNo: string }[]; nextBefore: null };
    expect(second.orders).toHaveLength(5);
    expect(second.nextBefore).toBeNull();
    const all = [...first.orders, ...second.orders].map((o) => o.outTradeNo);
    expect(new Set(all).size).toBe(25);
    expect(all[0]).not.toBe(outTradeNo); // newest first: the 24 placed later come before it
    expect(all[24]).toBe(outTradeNo);
    const html = await phone.get('/orders').expect(200);
    expect(html.text).toContain(`/orders?before=${first.nextBefore}`);
    await phone.get('/orders?before=abc').expect(400);
  });

  it('an order page opens by its number for anyone, but shows the buyer only to the owner', async () => {
    const { b, email } = await verifiedShopper();
    const res = await b.post('/orders', { goodsId: String(tea), quantity: '1' }).expect(303);
    const outTradeNo = JSON.parse(new URL(res.headers.location!).searchParams.get('biz_content')!).out_trade_no as string;
    const order = await t.db.order.findUniqueOrThrow({ where: { outTradeNo } });
    await request(app).post('/alipay/notify').set('Content-Type', NOTIFY_CONTENT_TYPE).send(signAsAlipay(notifyFields(order))).expect(200, 'success');

    const owner = await b.get(`/orders/${outTradeNo}`).expect(200);
    expect(owner.text).toContain('id="order-buyer"');
    expect(owner.text).toContain(email);
    expect(owner.text).toContain('id="order-trade-no"');
    const ownerJson = (await b.getJson(`/orders/${outTradeNo}`).expect(200)).body as { tradeNo: string | null; buyer: { email: string } | null };
    expect(ownerJson.buyer?.email).toBe(email);
    expect(ownerJson.tradeNo).not.toBeNull();

    const other = (await verifiedShopper()).b;
    for (const viewer of [await browser(), other]) {
      const page = await viewer.get(`/orders/${outTradeNo}`).expect(200);
      expect(page.text).toContain('PAID');
      expect(page.text).not.toContain(email);
      expect(page.text).not.toContain('id="order-trade-no"');
      const json = (await viewer.getJson(`/orders/${outTradeNo}`).expect(200)).body as { tradeNo: string | null; buyer: unknown };
      expect(json.tradeNo).toBeNull();
      expect(json.buyer).toBeNull();
    }
  });

  it('an unverified shopper can sign in and buy, and is reminded to confirm', async () => {
    const b = await browser();
    const email = newEmail();
    await signUp(b, email);
    await signIn(b, email).expect(303);
    const page = await b.get('/').expect(200);
    expect(page.text).toContain('id="verify-reminder"');
    await b.post('/orders', { goodsId: String(tea), quantity: '1' }).expect(303);
    await b.post('/account/verify/resend').expect(303);
    const mails = await (async () => {
      await worker.deliverDue();
      return smtp.to(email);
    })();
    expect(mails.filter((m) => m.subject.includes('Confirm your email'))).toHaveLength(2);
  });
});

describe('password reset', () => {
  it('emails a single-use link (stored hashed) that sets the password and ends every other session', async () => {
    const { b: phone, email, shopper } = await verifiedShopper();
    const laptop = await browser();
    const asked = await laptop.post('/account/reset', { email }).expect(200);
    expect(asked.text).toContain('Check your mailbox');
    const mail = smtp.to(email).length + 1;
    const resetMail = await mailTo(email, mail);
    expect(resetMail.subject).toBe('重设密码 Reset your password');
    const link = linkIn(resetMail.text, '/account/reset/');
    const token = link.split('/').pop()!;
    const stored = await t.db.shopperToken.findFirstOrThrow({ where: { shopperId: shopper.id, purpose: 'reset' } });
    expect(stored.tokenHash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(stored.tokenHash).not.toContain(token);
    expect(stored.expiresAt.getTime() - stored.createdAt.getTime()).toBe(30 * 60_000);

    await laptop.get(pathOf(link)).expect(200).expect(/Choose a new password/);
    expect((await laptop.post(pathOf(link), { password: 'short' }).expect(400)).text).toContain('at least 10');
    const done = await laptop.post(pathOf(link), { password: 'my reset password' }).expect(303);
    expect(done.headers.location).toBe('/account?done=reset');
    await laptop.get('/account').expect(200);

    await phone.get('/account').expect(303); // signed out elsewhere
    const phoneSessions = await t.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM sessions WHERE data->>'shopperId' = ${String(shopper.id)}`;
    expect(Number(phoneSessions[0]!.n)).toBe(1); // only the laptop's

    await laptop.get(pathOf(link)).expect(400); // single use
    expect((await (await browser()).post(pathOf(link), { password: 'yet another password' }).expect(400)).text).toContain('not valid');
    await signIn(await browser(), email, PASSWORD).expect(401);
    await signIn(await browser(), email, 'my reset password').expect(303);
  });

  it('two concurrent uses of one reset link: exactly one sets its password', async () => {
    const { email } = await verifiedShopper();
    await (await browser()).post('/account/reset', { email }).expect(200);
    const link = pathOf(linkIn((await mailTo(email, smtp.to(email).length + 1)).text, '/account/reset/'));
    const [a, b] = [await browser(), await browser()];
    const results = await Promise.all([a.post(link, { password: 'first racer password' }), b.post(link, { password: 'second racer password' })]);
    expect(results.map((r) => r.status).sort()).toEqual([303, 400]);
    const winner = results[0]!.status === 303 ? 'first racer password' : 'second racer password';
    const loser = winner.startsWith('first') ? 'second racer password' : 'first racer password';
    await signIn(await browser(), email, loser).expect(401);
    await signIn(await browser(), email, winner).expect(303);
  });

  it('keeps account links out of the request log', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const logged = buildApp(t.db, { logger });
    const token = 'A'.repeat(43);
    await request(logged).get(`/account/reset/${token}`).expect(400);
    await request(logged).get(`/account/verify?token=${token}`).expect(400);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.join('\n')).not.toContain(token);
  });

  it('forgets tokens a day after they expired', async () => {
    const { shopper } = await verifiedShopper();
    await t.sql(`UPDATE shopper_tokens SET expires_at = now() - interval '25 hours' WHERE shopper_id = $1`, [shopper.id]);
    expect(await purgeExpiredTokens(t.db)).toBeGreaterThanOrEqual(1);
    expect(await t.db.shopperToken.count({ where: { shopperId: shopper.id } })).toBe(0);
  });

  it('a reset link stops working after 30 minutes', async () => {
    const { email, shopper } = await verifiedShopper();
    const b = await browser();
    await b.post('/account/reset', { email }).expect(200);
    const link = linkIn((await mailTo(email, smtp.to(email).length + 1)).text, '/account/reset/');
    await t.sql(`UPDATE shopper_tokens SET expires_at = now() - interval '1 second' WHERE shopper_id = $1 AND purpose = 'reset'`, [shopper.id]);
    await b.get(pathOf(link)).expect(400).expect(/30 minutes/);
    await b.post(pathOf(link), { password: 'expired link password' }).expect(400);
    await signIn(await browser(), email, PASSWORD).expect(303);
  });

  it('for an unknown email answers the same and sends nothing', async () => {
    const email = newEmail();
    const res = await (await browser()).post('/account/reset', { email }).expect(200);
    expect(res.text).toContain('Check your mailbox');
    await worker.deliverDue();
    expect(smtp.to(email)).toHaveLength(0);
  });
});

describe('rate limits (shared through PostgreSQL)', () => {
  it('blocks an email after 10 failed sign-ins, from any address, even with the right password', async () => {
    const { email } = await verifiedShopper();
    for (let i = 0; i < 10; i++) await signIn(await browser(), email, `wrong password ${i}`).expect(401);
    const blocked = await signIn(await browser(), email, PASSWORD).expect(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('blocks an address after 30 sign-in attempts, counted across instances in PostgreSQL', async () => {
    const b = await browser();
    // 29 attempts counted by "other instances" (the shared counter), then this app's 30th still passes.
    const limiter = createRateLimiter(t.db);
    for (let i = 0; i < 29; i++) await limiter.hit(SHOPPER_LIMITS.signInPerIp, b.ip);
    await signIn(b, 'nobody1@example.com', 'wrong password').expect(401);
    const blocked = await signIn(b, 'nobody2@example.com', 'wrong password').expect(429);
    expect(blocked.text).toContain('Too many sign-in attempts');
    await signIn(await browser(), 'nobody3@example.com', 'wrong password').expect(401); // other addresses are not affected
  });

  it('blocks an address after 10 sign-ups', async () => {
    const b = await browser();
    for (let i = 0; i < 10; i++) await b.post('/account/signup', { email: newEmail(), password: PASSWORD }).expect(200);
    const res = await b.post('/account/signup', { email: newEmail(), password: PASSWORD }).expect(429);
    expect(res.headers['retry-after']).toBeDefined();
  });
});

describe('every account form needs the CSRF token', () => {
  it('refuses each POST route of the account router without a token (403), changing nothing', async () => {
    const router = accountRoutes(createShopperAccounts({ db: t.db }), { db: t.db });
    const posts = (router.stack as { route?: { path: string; methods: Record<string, boolean> } }[])
      .filter((layer) => layer.route?.methods.post)
      .map((layer) => layer.route!.path.replace(':token', 'x'.repeat(43)));
    expect(posts.length).toBeGreaterThanOrEqual(6);
    const b = await browser();
    for (const path of posts) {
      const res = await b.agent.post(path).set('X-Forwarded-For', b.ip).type('form').send({ email: 'x@example.com', password: PASSWORD });
      expect(res.status, path).toBe(403);
    }
    expect(await t.db.shopper.count({ where: { email: 'x@example.com' } })).toBe(0);
  });
});
