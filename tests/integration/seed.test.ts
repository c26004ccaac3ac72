import { describe, expect, it } from 'vitest';
import { SEED_GOODS, seedGoods, seedIfEmpty } from '../../src/shop/seed.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();

describe('seeding', () => {
  it('fills an empty database once, and re-seeding is idempotent and restores changed samples', async () => {
    expect(await seedIfEmpty(t.db)).toBe(true);
    expect(await t.db.goods.count()).toBe(SEED_GOODS.length);
    expect(await seedIfEmpty(t.db)).toBe(false);
    expect(await seedGoods(t.db)).toEqual({ created: 0, updated: 0 });
    const cheapest = await t.db.goods.findFirstOrThrow({ where: { priceFen: 1 } });
    await t.db.goods.update({ where: { id: cheapest.id }, data: { priceFen: 500, active: false } });
    expect(await seedGoods(t.db)).toEqual({ created: 0, updated: 1 });
    expect(await t.db.goods.findUniqueOrThrow({ where: { id: cheapest.id } })).toMatchObject({ priceFen: 1, active: true });
    expect(await t.db.goods.count()).toBe(SEED_GOODS.length);
    expect(SEED_GOODS.map((g) => g.priceFen)).toEqual(expect.arrayContaining([1, 199_900]));
  });
});
