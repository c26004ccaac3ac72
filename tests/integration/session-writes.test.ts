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

// xmin changes with every write of the row: the same xmin means the session was not rewritten.
const sessionVersions = () => t.sql<{ sid: string; v: string }>("SELECT sid, xmin::text AS v FROM sessions ORDER BY sid");

describe('session writes', () => {
  it('a returning shopper places orders without rewriting the session, and "My orders" lists them all', async () => {
    const s = await shopper(app);
    const goods = await t.db.goods.findFirstOrThrow({ where: { active: true } });
    await s.post('/orders', { goodsId: String(goods.id), quantity: '1' }).expect(303);
    const before = await sessionVersions();
    await s.post('/orders', { goodsId: String(goods.id), quantity: '2' }).expect(303);
    await s.post('/orders', { goodsId: String(goods.id), quantity: '3' }).expect(303);
    expect(await sessionVersions()).toEqual(before);
    const mine = await s.agent.get('/orders').set('Accept', 'application/json').expect(200);
    expect(mine.body.orders).toHaveLength(3);
  });

  it('a change to the cart is still written', async () => {
    const s = await shopper(app);
    const goods = await t.db.goods.findFirstOrThrow({ where: { active: true } });
    await s.post('/cart/items', { goodsId: String(goods.id), quantity: '1' }).expect(303);
    const before = await sessionVersions();
    await s.post('/cart/items', { goodsId: String(goods.id), quantity: '1' }).expect(303);
    expect(await sessionVersions()).not.toEqual(before);
    expect((await s.agent.get('/cart').expect(200)).text).toMatch(/value="2"/);
  });
});
