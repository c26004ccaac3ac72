// Catalog search at scale: N goods (default 1,000,000), listGoods() for substring queries of
// 3+ characters (the pg_trgm GIN index), 1–2 characters, rare and common terms. Target p99 < 50 ms.
//   npx tsx bench/search.ts            BENCH_GOODS=200000 npx tsx bench/search.ts
import { performance } from 'node:perf_hooks';
import { createDb } from '../src/db/client.js';
import { listGoods } from '../src/shop/goods.js';
import { startBenchDatabase } from './support.js';

const N = Number(process.env.BENCH_GOODS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 100);
const database = await startBenchDatabase();
const db = createDb(database.url);
try {
  const started = performance.now();
  // 40 words, Chinese and English; names like "龙井 Keyboard 绿茶 #123456" (unique by the number).
  await db.$executeRawUnsafe(`
    INSERT INTO goods (name, description, price_fen, active, updated_at)
    SELECT w[1 + (i::bigint * 7919) % 40] || ' ' || w[1 + (i::bigint * 104729) % 40] || ' ' || w[1 + (i::bigint * 15485863) % 40] || ' #' || i,
           'bench item', 100 + i % 100000, true, now()
    FROM generate_series(1, ${N}) AS i,
         (SELECT ARRAY['龙井','绿茶','红茶','普洱','茶杯','键盘','耳机','笔记本','月饼','筷子','礼盒','陶瓷','机械','无线','蓝牙','手机','充电器','背包','雨伞','毛巾',
                       'Tea','Cup','Keyboard','Notebook','Headphones','Mooncake','Chopsticks','Ceramic','Wireless','Charger','Backpack','Umbrella','Towel','Lamp','Desk','Chair','Mug','Pen','Bag','Box'] AS w) AS words`);
  await db.$executeRawUnsafe('ANALYZE goods');
  console.log(`${N.toLocaleString()} goods inserted and indexed in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const queries: Record<string, string[]> = {
    '3+ chars, rare (one word pair)': ['龙井 Keyboard', 'Mooncake 陶瓷', '#987654', '#12345'],
    '3+ chars, common (one word)': ['Keyboard', '笔记本', 'Headphones', '充电器'],
    '1–2 chars': ['茶', '龙', 'Te', '杯', 'x'],
    'no match': ['不存在的商品', 'zzzq'],
  };
  for (const [label, terms] of Object.entries(queries)) {
    const times: number[] = [];
    let total = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const q = terms[r % terms.length]!;
      const t0 = performance.now();
      const page = await listGoods(db, { q, page: 1 + (r % 3) });
      times.push(performance.now() - t0);
      total = page.total;
    }
    times.sort((x, y) => x - y);
    const pct = (p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]!.toFixed(1);
    console.log(`${label.padEnd(32)} p50 ${pct(50).padStart(7)} ms   p99 ${pct(99).padStart(7)} ms   (last total ${total})`);
  }
} finally {
  await db.$disconnect();
  await database.stop();
}
