import request from 'supertest';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildSignString, verifySignature } from '../../src/alipay/index.js';
import { seedGoods } from '../../src/shop/seed.js';
import { APP_ID, appKeys, fakePayments, GATEWAY, PUBLIC_BASE_URL } from '../support/alipay.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';
import { shopper } from '../support/shopper.js';

const t = useTestDatabase();
let app: ReturnType<typeof buildApp>;
let tea: { id: number; priceFen: number };
let cup: { id: number; priceFen: number };

beforeAll(async () => {
  await seedGoods(t.db);
  app = buildApp(t.db);
  tea = await t.db.goods.findFirstOrThrow({ where: { name: { contains: 'Longjing' } } });
  cup = await t.db.goods.findFirstOrThrow({ where: { name: 'Ceramic Tea Cup' } });
});

const orderCount = () => t.db.order.count();

describe('buying now', () => {
  it('creates an UNPAID order priced from the database and sends the shopper to a correctly signed page-pay URL', async () => {
    const s = await shopper(app);
    const before = Date.now();
    const { res, url, biz, outTradeNo } = await s.buy(tea.id, 3);

    expect(res.status).toBe(303);
    expect(`${url.origin}${url.pathname}`).toBe(GATEWAY);
    const params = Object.fromEntries(url.searchParams);
    expect(params).toMatchObject({
      app_id: APP_ID,
      method: 'alipay.trade.page.pay',
      charset: 'utf-8',
      sign_type: 'RSA2',
      version: '1.0',
      notify_url: `${PUBLIC_BASE_URL}/alipay/notify`,
      return_url: `${PUBLIC_BASE_URL}/alipay/return`,
    });
    expect(params.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    // The signature covers every sent parameter but `sign`, sign_type included.
    const { sign, ...signed } = params;
    expect(verifySignature(buildSignString(signed), sign!, appKeys.publicKey, 'RSA2')).toBe(true);

    expect(biz.product_code).toBe('FAST_INSTANT_TRADE_PAY');
    expect(biz.total_amount).toBe('384.00');
    expect(outTradeNo).toMatch(/^\d{8}[0-9a-f]{24}$/);
    const order = await t.db.order.findUniqueOrThrow({ where: { outTradeNo }, include: { items: true } });
    expect(order.status).toBe('UNPAID');
    expect(order.totalFen).toBe(38_400);
    expect(order.items).toEqual([expect.objectContaining({ goodsId: tea.id, name: expect.stringContaining('Longjing'), unitPriceFen: 12_800, quantity: 3 })]);
    // time_expire is the order's expiry (30 minutes by default), in Beijing time.
    expect(order.expiresAt.getTime() - before).toBeGreaterThan(29 * 60_000);
    const beijing = new Date(order.expiresAt.getTime() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
    expect(biz.time_expire).toBe(beijing);
  });

  it('never takes the price from the form', async () => {
    const s = await shopper(app);
    const res = await s.agent.post('/orders').type('form').send({ _csrf: s.token, goodsId: String(cup.id), quantity: '1', price: '0.01', totalAmount: '0.01' });
    expect(res.status).toBe(303);
    const biz = JSON.parse(new URL(res.headers.location!).searchParams.get('biz_content')!);
    expect(biz.total_amount).toBe('39.90');
  });

  it('gives every order an unguessable, distinct number', async () => {
    const s = await shopper(app);
    const numbers = new Set<string>();
    for (let i = 0; i < 5; i++) numbers.add((await s.buy(cup.id)).outTradeNo);
    expect(numbers.size).toBe(5);
  });

  it('sends phone browsers to wap pay', async () => {
    const s = await shopper(app);
    const res = await s.agent
      .post('/orders')
      .set('User-Agent', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148')
      .type('form')
      .send({ _csrf: s.token, goodsId: String(cup.id), quantity: '1' })
      .expect(303);
    const url = new URL(res.headers.location!);
    expect(url.searchParams.get('method')).toBe('alipay.trade.wap.pay');
    expect(JSON.parse(url.searchParams.get('biz_content')!).product_code).toBe('QUICK_WAP_WAY');
  });

  it('renders an auto-submitting POST form with the system parameters in the action URL when configured', async () => {
    const appWithPost = buildApp(t.db, { payments: fakePayments(undefined, { pagePayMethod: 'POST' }) });
    const s = await shopper(appWithPost);
    const res = await s.post('/orders', { goodsId: String(cup.id), quantity: '1' }).expect(200);
    const action = /<form[^>]*action="([^"]+)"/.exec(res.text.replace(/<form class="search"[^>]*>/, ''))?.[1]?.replaceAll('&amp;', '&');
    expect(action).toBeDefined();
    const actionUrl = new URL(action!);
    expect(actionUrl.searchParams.get('charset')).toBe('utf-8');
    expect(actionUrl.searchParams.get('sign')).toBeTruthy();
    expect(res.text).toMatch(/name="biz_content"/);
    // The auto-submit script carries this response's CSP nonce.
    const nonce = /script-src[^;]*'nonce-([^']+)'/.exec(res.headers['content-security-policy']!)?.[1];
    expect(res.text).toContain(`nonce="${nonce}"`);
  });

  it('lets the gateway origin through the CSP form-action', async () => {
    const res = await request(app).get('/').expect(200);
    expect(res.headers['content-security-policy']).toMatch(
      /form-action 'self' https:\/\/openapi-sandbox\.dl\.alipaydev\.com https:\/\/\*\.alipay\.com https:\/\/\*\.alipaydev\.com;/,
    );
  });

  it.each([
    ['quantity 0', { quantity: '0' }, /Quantity must be/],
    ['quantity -1', { quantity: '-1' }, /Quantity must be/],
    ['quantity 100', { quantity: '100' }, /Quantity must be/],
    ['quantity abc', { quantity: 'abc' }, /Quantity must be/],
    ['quantity 1e3', { quantity: '1e3' }, /Quantity must be/],
    ['quantity 1.5', { quantity: '1.5' }, /Quantity must be/],
    ['missing quantity', { quantity: undefined }, /Enter a quantity/],
    ['missing goodsId', { goodsId: undefined }, /goodsId is missing/],
    ['unknown goods', { goodsId: '999999' }, /not for sale/],
    ['malformed goodsId', { goodsId: '1; DROP TABLE goods' }, /no such product/],
  ])('refuses %s with a 400 saying what is wrong, and creates no order', async (_name, change, message) => {
    const s = await shopper(app);
    const before = await orderCount();
    const form: Record<string, string> = { goodsId: String(tea.id), quantity: '1' };
    for (const [k, v] of Object.entries(change)) {
      if (v === undefined) delete form[k];
      else form[k] = v;
    }
    const res = await s.post('/orders', form).expect(400);
    expect(res.text).toMatch(message);
    expect(await orderCount()).toBe(before);
  });

  it('refuses inactive goods', async () => {
    const gone = await t.db.goods.create({ data: { name: 'Retired teapot', priceFen: 9_900, active: false } });
    const s = await shopper(app);
    const before = await orderCount();
    const res = await s.post('/orders', { goodsId: String(gone.id), quantity: '1' }).expect(400);
    expect(res.text).toContain('not for sale');
    expect(await orderCount()).toBe(before);
  });

  it('refuses a POST without a valid CSRF token', async () => {
    const s = await shopper(app);
    const before = await orderCount();
    await s.agent.post('/orders').type('form').send({ goodsId: String(tea.id), quantity: '1' }).expect(403);
    const res = await s.agent.post('/orders').type('form').send({ _csrf: 'forged', goodsId: String(tea.id), quantity: '1' }).expect(403);
    expect(res.text).toContain('This form has expired');
    // A token from another session does not work either.
    const other = await shopper(app);
    await s.agent.post('/orders').type('form').send({ _csrf: other.token, goodsId: String(tea.id), quantity: '1' }).expect(403);
    expect(await orderCount()).toBe(before);
  });

  it('behind an https proxy, sets secure cookies so forms keep working', async () => {
    const behindProxy = buildApp(t.db, { env: { PUBLIC_BASE_URL: 'https://shop.example.com' } });
    const page = await request(behindProxy).get('/').set('X-Forwarded-Proto', 'https').expect(200);
    const csrfCookie = page.headers['set-cookie']?.[0] ?? '';
    expect(csrfCookie).toMatch(/shop\.csrf=.*; Secure/);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? '';
    const res = await request(behindProxy)
      .post('/cart/items')
      .set('X-Forwarded-Proto', 'https')
      .set('Cookie', csrfCookie.split(';')[0]!)
      .type('form')
      .send({ _csrf: token, goodsId: String(tea.id), quantity: '1' })
      .expect(303);
    expect(res.headers['set-cookie']?.[0]).toMatch(/shop\.sid=.*; Secure/);
  });

  it('answers JSON errors to JSON clients', async () => {
    const s = await shopper(app);
    const res = await s.agent.post('/orders').set('Accept', 'application/json').type('form').send({ _csrf: s.token, goodsId: String(tea.id), quantity: '0' }).expect(400);
    expect(res.body.error.message).toMatch(/Quantity must be/);
  });
});

describe('the cart', () => {
  it('adds, changes and removes items, then checks out one order with several items', async () => {
    const s = await shopper(app);
    await s.post('/cart/items', { goodsId: String(tea.id), quantity: '2' }).expect(303);
    await s.post('/cart/items', { goodsId: String(cup.id), quantity: '1' }).expect(303);
    await s.post('/cart/items', { goodsId: String(cup.id), quantity: '2' }).expect(303);
    let cart = await s.agent.get('/cart').expect(200);
    expect(cart.text).toContain('Cart (5)');
    expect(cart.text).toContain('¥375.70'); // 2 × 128.00 + 3 × 39.90

    await s.post(`/cart/items/${tea.id}`, { quantity: '1' }).expect(303);
    const notebook = await t.db.goods.findFirstOrThrow({ where: { name: { contains: 'Notebook' } } });
    await s.post('/cart/items', { goodsId: String(notebook.id), quantity: '1' }).expect(303);
    await s.post(`/cart/items/${notebook.id}`, { action: 'remove' }).expect(303);
    cart = await s.agent.get('/cart').expect(200);
    expect(cart.text).toContain('¥247.70'); // 128.00 + 3 × 39.90
    expect(cart.text).not.toContain('Notebook');

    const res = await s.post('/cart/checkout').expect(303);
    const biz = JSON.parse(new URL(res.headers.location!).searchParams.get('biz_content')!);
    expect(biz.total_amount).toBe('247.70');
    const order = await t.db.order.findUniqueOrThrow({ where: { outTradeNo: biz.out_trade_no }, include: { items: { orderBy: { goodsId: 'asc' } } } });
    expect(order.totalFen).toBe(24_770);
    expect(order.items.map((i) => [i.goodsId, i.quantity, i.unitPriceFen])).toEqual(
      [[tea.id, 1, 12_800], [cup.id, 3, 3_990]].sort((a, b) => a[0]! - b[0]!),
    );
    expect(order.subject).toContain('等2件商品');
    // The cart is empty afterwards.
    expect((await s.agent.get('/cart').expect(200)).text).toContain('Your cart is empty');
  });

  it('refuses to check out an empty cart, and bad cart input', async () => {
    const s = await shopper(app);
    const before = await orderCount();
    expect((await s.post('/cart/checkout').expect(400)).text).toContain('Your cart is empty');
    await s.post('/cart/items', { goodsId: String(tea.id), quantity: '100' }).expect(400);
    await s.post('/cart/items', { goodsId: '999999', quantity: '1' }).expect(400);
    await s.post(`/cart/items/${cup.id}`, { quantity: '2' }).expect(400);
    await s.post('/cart/items', { goodsId: String(tea.id), quantity: '1' }).expect(303);
    await s.post(`/cart/items/${tea.id}`, { quantity: 'x' }).expect(400);
    expect(await orderCount()).toBe(before);
  });

  it('caps one item at 99 per order', async () => {
    const s = await shopper(app);
    await s.post('/cart/items', { goodsId: String(tea.id), quantity: '60' }).expect(303);
    await s.post('/cart/items', { goodsId: String(tea.id), quantity: '60' }).expect(303);
    const cart = await s.agent.get('/cart').expect(200);
    expect(cart.text).toContain('value="99"');
  });

  it('checks prices again at checkout: a price change after adding to the cart is charged at the new price', async () => {
    const goods = await t.db.goods.create({ data: { name: 'Price-changing kettle', priceFen: 10_000 } });
    const s = await shopper(app);
    await s.post('/cart/items', { goodsId: String(goods.id), quantity: '1' }).expect(303);
    await t.db.goods.update({ where: { id: goods.id }, data: { priceFen: 12_345 } });
    const res = await s.post('/cart/checkout').expect(303);
    expect(JSON.parse(new URL(res.headers.location!).searchParams.get('biz_content')!).total_amount).toBe('123.45');
  });
});

describe('the order page', () => {
  let outTradeNo: string;
  let s: Awaited<ReturnType<typeof shopper>>;
  beforeEach(async () => {
    s = await shopper(app);
    ({ outTradeNo } = await s.buy(tea.id, 2));
  });

  it('shows items, total and status, and JSON with Accept: application/json', async () => {
    const html = await request(app).get(`/orders/${outTradeNo}`).expect(200);
    expect(html.text).toContain('¥256.00');
    expect(html.text).toContain('UNPAID');
    expect(html.text).toContain('Pay with Alipay');
    const json = await request(app).get(`/orders/${outTradeNo}`).set('Accept', 'application/json').expect(200);
    expect(json.body).toMatchObject({
      outTradeNo,
      status: 'UNPAID',
      totalAmount: '256.00',
      tradeNo: null,
      paidAt: null,
      items: [{ name: expect.stringContaining('Longjing'), unitPrice: '128.00', quantity: 2, amount: '256.00' }],
    });
  });

  it('answers 404 for unknown or malformed numbers', async () => {
    await request(app).get('/orders/20261125ffffffffffffffffffffffff').expect(404);
    await request(app).get('/orders/not-a-number!').expect(404);
    await request(app).get(`/orders/${'9'.repeat(65)}`).expect(404);
  });

  it('offers Pay again with a freshly signed URL for the same order number', async () => {
    const res = await s.post(`/orders/${outTradeNo}/pay`).expect(303);
    const biz = JSON.parse(new URL(res.headers.location!).searchParams.get('biz_content')!);
    expect(biz.out_trade_no).toBe(outTradeNo);
    expect(biz.total_amount).toBe('256.00');
  });

  it('refuses to pay an expired or paid order again', async () => {
    await t.db.order.update({ where: { outTradeNo }, data: { status: 'PAID', paidAt: new Date() } });
    const res = await s.post(`/orders/${outTradeNo}/pay`).expect(409);
    expect(res.text).toContain('cannot be paid again');
    expect((await request(app).get(`/orders/${outTradeNo}`).expect(200)).text).not.toContain('Pay with Alipay');
  });

  it('lists the orders of this browser session only', async () => {
    const mine = await s.agent.get('/orders').set('Accept', 'application/json').expect(200);
    expect(mine.body.orders.map((o: { outTradeNo: string }) => o.outTradeNo)).toContain(outTradeNo);
    const someoneElse = await (await shopper(app)).agent.get('/orders').set('Accept', 'application/json').expect(200);
    expect(someoneElse.body.orders).toEqual([]);
    const html = await s.agent.get('/orders').expect(200);
    expect(html.text).toContain(outTradeNo);
  });
});
