import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { seedGoods } from '../../src/shop/seed.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';
import { shopper } from '../support/shopper.js';

const t = useTestDatabase();
let app: ReturnType<typeof buildApp>;

beforeAll(async () => {
  await seedGoods(t.db);
  app = buildApp(t.db);
});

const sessionRows = () => t.db.session.count();

describe('what a visitor costs', () => {
  it('a visitor who only browses creates no session row (pages, HEAD, 404, 403)', async () => {
    const before = await sessionRows();
    const s = await shopper(app);
    const goods = await t.db.goods.findFirstOrThrow();
    await s.agent.get(`/goods/${goods.id}`).expect(200);
    await s.agent.get('/?q=tea&page=2').expect(200);
    await s.agent.get('/cart').expect(200);
    await s.agent.get('/orders').expect(200);
    await s.agent.head('/').expect(200);
    await s.agent.get('/no-such-page').expect(404);
    await s.agent.post('/orders').type('form').send({ _csrf: 'forged', goodsId: String(goods.id), quantity: '1' }).expect(403);
    await request(app).post('/cart/items').type('form').send({ goodsId: String(goods.id), quantity: '1' }).expect(403);
    expect(await sessionRows()).toBe(before);
  });

  it('a session is stored once there is a cart, and the form token keeps working with it', async () => {
    const before = await sessionRows();
    const s = await shopper(app);
    const goods = await t.db.goods.findFirstOrThrow({ where: { active: true } });
    await s.post('/cart/items', { goodsId: String(goods.id), quantity: '2' }).expect(303);
    expect(await sessionRows()).toBe(before + 1);
    await s.post('/cart/checkout').expect(303);
    expect(await sessionRows()).toBe(before + 1);
  });

  it('a CSRF token with multi-byte characters is refused with 403, not a server error', async () => {
    const s = await shopper(app);
    const goods = await t.db.goods.findFirstOrThrow({ where: { active: true } });
    // Same length in characters, not in bytes: comparing the bytes must not throw.
    const forged = `${s.token.slice(0, -1)}é`;
    expect(forged.length).toBe(s.token.length);
    const res = await s.agent.post('/orders').type('form').send({ _csrf: forged, goodsId: String(goods.id), quantity: '1' });
    expect(res.status).toBe(403);
  });
});
