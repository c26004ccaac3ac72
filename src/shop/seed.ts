import type { Db } from '../db/client.js';
import { addGoodsImage, type MediaLibrary } from './goods-images.js';

export const SEED_GOODS = [
  { name: '测试商品 Test item', description: '一分钱的测试商品，用来试一次完整的支付。A one-fen item to try a whole payment.', priceFen: 1, imagePath: '/static/goods/test.svg' },
  { name: '龙井绿茶 Longjing Green Tea', description: '西湖龙井，明前采摘，250 克罐装。', priceFen: 12_800, imagePath: '/static/goods/tea.svg' },
  { name: 'Ceramic Tea Cup', description: 'Hand-glazed celadon cup, 120 ml.', priceFen: 3_990, imagePath: '/static/goods/cup.svg' },
  { name: '机械键盘 Mechanical Keyboard', description: '87 键，热插拔轴体，PBT 键帽。', priceFen: 59_900, imagePath: '/static/goods/keyboard.svg' },
  { name: 'Noise-cancelling Headphones', description: 'Over-ear, 30 h battery, USB-C.', priceFen: 199_900, imagePath: '/static/goods/headphones.svg' },
  { name: '笔记本 Notebook A5', description: '点阵内页，100 页，可平摊。', priceFen: 1_230, imagePath: '/static/goods/notebook.svg' },
  { name: 'Bamboo Chopsticks (5 pairs)', description: 'Natural bamboo, dishwasher safe.', priceFen: 1_950, imagePath: '/static/goods/chopsticks.svg' },
  { name: '月饼礼盒 Mooncake Gift Box', description: '六只装，莲蓉蛋黄与五仁。', priceFen: 26_800, imagePath: '/static/goods/mooncake.svg' },
] as const;

export interface SeedPictures {
  media: MediaLibrary;
  /** The picture for a sample goods, from its placeholder path. */
  draw(imagePath: string): Promise<Buffer | null>;
}

/** Gives every sample goods without a picture its picture (stored like an operator's upload). */
async function seedPictures(db: Db, pictures: SeedPictures): Promise<void> {
  const bare = await db.goods.findMany({
    where: { name: { in: SEED_GOODS.map((g) => g.name) }, images: { none: {} }, imagePath: { not: null } },
    select: { id: true, imagePath: true },
  });
  for (const goods of bare) {
    const bytes = await pictures.draw(goods.imagePath!);
    if (bytes) await addGoodsImage({ db, media: pictures.media }, goods.id, bytes);
  }
}

/** Inserts the sample goods that are missing (by name) and restores changed ones; idempotent. */
export async function seedGoods(db: Db, pictures?: SeedPictures): Promise<{ created: number; updated: number }> {
  let created = 0;
  let updated = 0;
  for (const goods of SEED_GOODS) {
    const existing = await db.goods.findUnique({ where: { name: goods.name } });
    if (!existing) {
      // Several instances may seed the same empty database at once: a name already taken is fine.
      created += (await db.goods.createMany({ data: [goods], skipDuplicates: true })).count;
    } else if (
      existing.priceFen !== goods.priceFen ||
      existing.description !== goods.description ||
      existing.imagePath !== goods.imagePath ||
      !existing.active
    ) {
      await db.goods.update({ where: { id: existing.id }, data: { ...goods, active: true } });
      updated++;
    }
  }
  if (pictures) await seedPictures(db, pictures);
  return { created, updated };
}

/** Seeds only a database that has no goods at all (first start). */
export async function seedIfEmpty(db: Db, pictures?: SeedPictures): Promise<boolean> {
  if ((await db.goods.count()) > 0) return false;
  await seedGoods(db, pictures);
  return true;
}
