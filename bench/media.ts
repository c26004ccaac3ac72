// Goods pictures: upload-to-visible for a 4 MB JPEG (variants generated, stored, shown in the
// catalog), and the catalog's p99 while 4 uploads are processed at once (image work must not
// block other requests).   npx tsx bench/media.ts   (BENCH_SECONDS=10)
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createMediaLibrary } from '../src/media/index.js';
import { createLocalStore } from '../src/media/local-store.js';
import { addGoodsImage } from '../src/shop/goods-images.js';
import { buildShop, createDb, listen, load, report, startBenchDatabase } from './support.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);

async function photo(width: number, height: number): Promise<Buffer> {
  // Noise compresses badly, like a real photo: about 4 MB at this size.
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7919 + ((i / 3) | 0) * 31) & 0xff ^ ((Math.random() * 64) | 0);
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 92 }).toBuffer();
}

const database = await startBenchDatabase();
const db = createDb(database.url);
const store = createLocalStore(path.join(await mkdtemp(path.join(os.tmpdir(), 'bench-media-')), 'media'));
const media = createMediaLibrary(store);
const goods = await Promise.all(
  Array.from({ length: 20 }, (_, i) => db.goods.create({ data: { name: `商品 Goods ${i + 1}`, description: 'A benchmark item', priceFen: 1_000 + i * 137 } })),
);
const jpeg = await photo(2600, 1950);
console.log(`test photo: ${(jpeg.length / 1024 / 1024).toFixed(1)} MB JPEG, 2600×1950`);

const shop = await listen(buildShop(db, { media: store }));
const started = performance.now();
const image = await addGoodsImage({ db, media }, goods[0]!.id, jpeg);
const stored = performance.now();
let visible = false;
while (!visible) visible = (await (await fetch(`${shop.url}/`)).text()).includes(image.thumb.url);
const shown = performance.now();
console.log(`upload → variants stored: ${(stored - started).toFixed(0)} ms; → visible in the catalog: ${(shown - started).toFixed(0)} ms`);
for (const g of goods.slice(1)) await addGoodsImage({ db, media }, g.id, await photo(800, 600));

const common = { connections: 20, duration: DURATION, url: `${shop.url}/` };
const quiet = await load(common);
report('catalog with 20 pictures, idle', quiet);

let uploads = 0;
let stop = false;
const uploader = async () => {
  while (!stop) {
    const target = goods[uploads % goods.length]!;
    const row = await addGoodsImage({ db, media }, target.id, jpeg);
    await db.goodsImage.delete({ where: { id: row.id } });
    uploads++;
  }
};
const workers = Array.from({ length: 4 }, uploader);
const busy = await load(common);
stop = true;
await Promise.all(workers);
report('catalog during 4 concurrent uploads', busy);
console.log(`${uploads} uploads of ${(jpeg.length / 1024 / 1024).toFixed(1)} MB processed during ${DURATION} s; catalog p99 ${quiet.p99} → ${busy.p99} ms`);

await shop.close();
await db.$disconnect();
await database.stop();
