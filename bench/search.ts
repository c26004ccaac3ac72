// Catalog search at scale: N goods (default 1,000,000) and listGoods() (the catalog's query, no
// HTTP) for the kinds of text shoppers type. Target: p99 < 50 ms for a substring search.
//   npm run bench:search        BENCH_GOODS=200000 BENCH_ROUNDS=50 npm run bench:search
//   BENCH_OLD_ROUNDS=5          also times the previous query shape (count(*) OVER () + OFFSET) for comparison; 0 = skip
// Names are three of 40 words (each word in ~7% of names), "新款" in 30%, "宜兴紫砂壶" in 1 of
// 20,000, and a unique number: "龙井 Keyboard 绿茶 新款 #123456".
import { performance } from 'node:perf_hooks';
import { createDb } from '../src/db/client.js';
import { COUNT_CAP, listGoods, PAGE_SIZE } from '../src/shop/goods.js';
import { startBenchDatabase } from './support.js';

const N = Number(process.env.BENCH_GOODS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 100);
const OLD_ROUNDS = Number(process.env.BENCH_OLD_ROUNDS ?? 5);
const database = await startBenchDatabase();
const db = createDb(database.url);
try {
  const started = performance.now();
  // Bulk load without the secondary indexes, then build them (as a restore would).
  const indexes = await db.$queryRawUnsafe<{ indexname: string; indexdef: string }[]>(
    `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'goods' AND indexname <> 'goods_pkey'`,
  );
  for (const i of indexes) await db.$executeRawUnsafe(`DROP INDEX "${i.indexname}"`);
  await db.$executeRawUnsafe(`
    INSERT INTO goods (name, description, price_fen, active, updated_at)
    SELECT w[1 + (i::bigint * 7919) % 40] || ' ' || w[1 + (i::bigint * 104729) % 40] || ' ' || w[1 + (i::bigint * 15485863) % 40]
           || CASE WHEN i % 10 < 3 THEN ' 新款' ELSE '' END || CASE WHEN i % 20000 = 7 THEN ' 宜兴紫砂壶' ELSE '' END || ' #' || i,
           'bench item', 100 + i % 100000, i % 50 <> 0, now()
    FROM generate_series(1, ${N}) AS i,
         (SELECT ARRAY['龙井','绿茶','红茶','普洱','茶杯','键盘','耳机','笔记本','月饼','筷子','礼盒','陶瓷','机械','无线','蓝牙','手机','充电器','背包','雨伞','毛巾',
                       'Tea','Cup','Keyboard','Notebook','Headphones','Mooncake','Chopsticks','Ceramic','Wireless','Charger','Backpack','Umbrella','Towel','Lamp','Desk','Chair','Mug','Pen','Bag','Box'] AS w) AS words`);
  const loaded = performance.now();
  await db.$transaction(async (tx) => {
    await tx.$executeRawUnsafe(`SET LOCAL maintenance_work_mem = '256MB'`);
    for (const i of indexes) await tx.$executeRawUnsafe(i.indexdef);
  }, { timeout: 600_000 });
  await db.$executeRawUnsafe('VACUUM ANALYZE goods');
  const [size] = await db.$queryRawUnsafe<{ table: string; grams: string }[]>(
    `SELECT pg_size_pretty(pg_table_size('goods')) AS table, pg_size_pretty(pg_relation_size('goods_name_grams_idx')) AS grams`,
  );
  console.log(
    `${N.toLocaleString()} goods (2% inactive): loaded in ${((loaded - started) / 1000).toFixed(1)} s, indexes built in ${((performance.now() - loaded) / 1000).toFixed(1)} s` +
      ` (table ${size!.table}, n-gram index ${size!.grams})\n`,
  );

  const exact = async (q: string) =>
    Number((await db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*) AS n FROM goods WHERE active AND name ILIKE $1`, `%${q}%`))[0]!.n);
  const groups: [string, string[], number[]][] = [
    ['3+ chars Chinese, rare (宜兴紫砂壶)', ['紫砂壶', '宜兴紫砂', '兴紫砂壶'], [1, 2, 3]],
    ['3+ chars, rare (a number)', ['#987654', '#12345', '#4242'], [1, 2, 3]],
    ['3+ chars, one word (~7%)', ['Keyboard', '笔记本', 'Headphones', '充电器'], [1, 2, 3]],
    ['2 chars, in 30% of names (新款)', ['新款'], [1, 2, 3]],
    ['2 chars', ['Te', '键盘', '月饼', 'ug'], [1, 2, 3]],
    ['1 char', ['茶', '龙', '杯', 'x'], [1, 2, 3]],
    ['1–2 chars, rare (壶, 紫砂)', ['壶', '紫砂'], [1, 2, 3]],
    ['no match (1, 2, 3+ chars)', ['鑫', 'qz', '不存在的商品', 'zzzq'], [1]],
    ['common, last page (50)', ['Keyboard', '新款', '茶'], [50]],
    ['no text (whole catalog)', [''], [1, 2, 3]],
  ];
  const pct = (times: number[], p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]!;
  const rows: string[][] = [];
  for (const [label, terms, pages] of groups) {
    const times: number[] = [];
    const shown = new Map<string, string>();
    let slowest = { q: '', ms: 0 };
    for (let r = 0; r < ROUNDS; r++) {
      const q = terms[r % terms.length]!;
      const t0 = performance.now();
      const page = await listGoods(db, { q, page: pages[Math.floor(r / terms.length) % pages.length] });
      const ms = performance.now() - t0;
      times.push(ms);
      if (ms > slowest.ms) slowest = { q, ms };
      shown.set(q, page.capped ? `${COUNT_CAP}+` : String(page.total));
    }
    times.sort((x, y) => x - y);
    const oldTimes: number[] = [];
    for (let r = 0; r < OLD_ROUNDS; r++) {
      const q = terms[r % terms.length]!;
      const t0 = performance.now();
      await oldListGoods(q, pages[0]!);
      oldTimes.push(performance.now() - t0);
    }
    oldTimes.sort((x, y) => x - y);
    const counts = await Promise.all(terms.map(async (q) => `${q || '(all)'} ${shown.get(q)}${q && shown.get(q)!.endsWith('+') ? ` (${(await exact(q)).toLocaleString()})` : ''}`));
    rows.push([
      label,
      pct(times, 50).toFixed(1),
      pct(times, 99).toFixed(1),
      `${times.at(-1)!.toFixed(1)} (${slowest.q})`,
      pct(times, 99) < 50 ? 'yes' : 'NO',
      OLD_ROUNDS ? `${pct(oldTimes, 50).toFixed(0)} / ${oldTimes.at(-1)!.toFixed(0)}` : '—',
      counts.join(', '),
    ]);
  }
  const head = ['query kind', 'p50 ms', 'p99 ms', 'max ms (its text)', 'p99 < 50 ms', `old shape p50 / max ms (${OLD_ROUNDS} runs)`, 'count shown (exact, when capped)'];
  console.log(`### listGoods with ${N.toLocaleString()} goods: ${ROUNDS} calls per kind, pages as listed, ${PAGE_SIZE} to a page\n`);
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
} finally {
  await db.$disconnect();
  await database.stop();
}

/** The query shape before this change, for comparison: every match counted and sorted. */
async function oldListGoods(q: string, page: number) {
  const pattern = `%${q.replace(/[\\%_]/g, '\\$&')}%`;
  return db.$queryRaw`
    SELECT g.id, g.name, count(*) OVER () AS total FROM goods g
    WHERE g.active AND g.name ILIKE ${pattern} ORDER BY g.id LIMIT ${PAGE_SIZE} OFFSET ${(page - 1) * PAGE_SIZE}`;
}
