import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { SEED_GOODS, seedGoods } from '../../src/shop/seed.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();
let app: ReturnType<typeof buildApp>;

beforeAll(async () => {
  await seedGoods(t.db);
  app = buildApp(t.db);
});

describe('catalog', () => {
  it('lists the goods with prices in yuan and a buy form each', async () => {
    const res = await request(app).get('/').expect(200).expect('content-type', /html/);
    expect(res.text).toContain('¥0.01');
    expect(res.text).toContain('¥1,999.00');
    expect(res.text).toContain('龙井绿茶 Longjing Green Tea');
    expect(res.text.match(/<form class="buy"/g)).toHaveLength(SEED_GOODS.length);
    expect(res.text).toMatch(/name="quantity" value="1"/);
  });

  it('searches names case-insensitively', async () => {
    const res = await request(app).get('/').query({ q: 'tea' }).expect(200);
    expect(res.text).toContain('Longjing Green Tea');
    expect(res.text).toContain('Ceramic Tea Cup');
    expect(res.text).not.toContain('Mechanical Keyboard');
    const chinese = await request(app).get('/').query({ q: '键盘' }).expect(200);
    expect(chinese.text).toContain('Mechanical Keyboard');
  });

  it('escapes the search text it shows back', async () => {
    const res = await request(app).get('/').query({ q: '<script>alert(1)</script>' }).expect(200);
    expect(res.text).not.toContain('<script>alert(1)</script>');
    expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('treats % and _ in the search as plain characters', async () => {
    const res = await request(app).get('/').query({ q: '%' }).expect(200);
    expect(res.text).toContain('No goods found');
  });

  it('paginates past 20 goods', async () => {
    await t.db.goods.createMany({
      data: Array.from({ length: 25 }, (_, i) => ({ name: `Paged item ${String(i).padStart(2, '0')}`, priceFen: 100 + i })),
    });
    const first = await request(app).get('/').expect(200);
    expect(first.text.match(/<li class="goods-card">/g)).toHaveLength(20);
    expect(first.text).toContain('Page 1 of 2');
    const second = await request(app).get('/').query({ page: '2' }).expect(200);
    expect(second.text.match(/<li class="goods-card">/g)).toHaveLength(SEED_GOODS.length + 25 - 20);
    const beyond = await request(app).get('/').query({ page: '99' }).expect(200);
    expect(beyond.text).toContain('Page 2 of 2');
    await request(app).get('/').query({ page: 'abc' }).expect(200);
  });

  it('hides inactive goods', async () => {
    const hidden = await t.db.goods.create({ data: { name: 'Discontinued thing', priceFen: 500, active: false } });
    const res = await request(app).get('/').query({ q: 'Discontinued' }).expect(200);
    expect(res.text).not.toContain('Discontinued thing');
    await request(app).get(`/goods/${hidden.id}`).expect(404);
  });
});

describe('goods detail', () => {
  it('shows one product', async () => {
    const goods = await t.db.goods.findFirstOrThrow({ where: { priceFen: 199_900 } });
    const res = await request(app).get(`/goods/${goods.id}`).expect(200);
    expect(res.text).toContain('Noise-cancelling Headphones');
    expect(res.text).toContain('¥1,999.00');
  });

  it.each(['999999', 'abc', '1.5', '-1', '0', '99999999999999999999'])('answers 404 for id %s', async (id) => {
    const res = await request(app).get(`/goods/${id}`).expect(404);
    expect(res.text).toContain('does not exist');
  });

  it('escapes names and descriptions', async () => {
    const goods = await t.db.goods.create({ data: { name: '<b>bold</b> & "quoted"', description: '<img src=x onerror=alert(1)>', priceFen: 100 } });
    const res = await request(app).get(`/goods/${goods.id}`).expect(200);
    expect(res.text).toContain('&lt;b&gt;bold&lt;/b&gt; &amp; &#34;quoted&#34;');
    expect(res.text).not.toContain('<img src=x');
  });
});

describe('errors and health', () => {
  it('answers unknown routes with 404 as HTML or JSON by Accept', async () => {
    const html = await request(app).get('/no/such/page').expect(404).expect('content-type', /html/);
    expect(html.text).toContain('There is no page at /no/such/page');
    const json = await request(app).get('/no/such/page').set('Accept', 'application/json').expect(404);
    expect(json.body).toEqual({ error: { status: 404, message: 'There is no page at /no/such/page.' } });
  });

  it('reports health with a database round trip', async () => {
    const res = await request(app).get('/healthz').expect(200);
    expect(res.body).toEqual({ status: 'ok', database: 'ok' });
  });

  it('serves the stylesheet from the app itself', async () => {
    await request(app).get('/static/shop.css').expect(200).expect('content-type', /css/);
  });
});
