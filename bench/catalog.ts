// GET / (20 goods) vs a bare Express+EJS page rendering the same HTML without the database.
// Target: catalog ≥ 0.5× the bare page, p99 < 50 ms.   npx tsx bench/catalog.ts
import path from 'node:path';
import express from 'express';
import { PROJECT_ROOT } from '../src/paths.js';
import { listGoods } from '../src/shop/goods.js';
import { formatPrice, formatYuan } from '../src/lib/money.js';
import { buildShop, createDb, listen, load, report, startBenchDatabase } from './support.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const database = await startBenchDatabase();
const db = createDb(database.url);
await db.goods.createMany({ data: Array.from({ length: 20 }, (_, i) => ({ name: `商品 Goods ${i + 1}`, description: 'A benchmark item', priceFen: 1_000 + i * 137, imagePath: '/static/goods/tea.svg' })) });

const shop = await listen(buildShop(db));
// A returning visitor: one session cookie, reused (a first visit also stores a session).
const first = await fetch(`${shop.url}/`);
const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
const page = await listGoods(db, {});

const bare = express();
bare.set('view engine', 'ejs');
bare.set('view cache', true);
bare.set('views', path.join(PROJECT_ROOT, 'views'));
bare.locals.formatPrice = formatPrice;
bare.locals.formatYuan = formatYuan;
bare.get('/', (_req, res) => res.render('goods/index', { ...page, csrfToken: 'x'.repeat(32), cartCount: 0 }));
const bareServer = await listen(bare);

const common = { connections: 50, duration: DURATION };
const bareResult = process.env.ONLY_CATALOG ? { rps: 1, p50: 0, p99: 0, errors: 0, non2xx: 0 } : await load({ ...common, url: `${bareServer.url}/` });
report('bare Express+EJS page', bareResult);
const catalog = await load({ ...common, url: `${shop.url}/`, headers: { cookie } });
report('catalog GET / (DB, session)', catalog);
console.log(`ratio catalog/bare: ${(catalog.rps / bareResult.rps).toFixed(2)}× (target ≥ 0.5×), catalog p99 ${catalog.p99} ms (target < 50 ms)`);

await shop.close();
await bareServer.close();
await db.$disconnect();
await database.stop();
