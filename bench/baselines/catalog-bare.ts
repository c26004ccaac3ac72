// The catalog's reference points: the shop's own goods/index.ejs rendered by a bare Express handler
// with the same data (GET /template), and a bare 20-row EJS page (GET /bare). Data is read once.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import express from 'express';
import pg from 'pg';
import { formatPrice } from '../../src/lib/money.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), process.env.PROJECT_ROOT ?? '../../..');
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
const { rows: items } = await pool.query(
  `SELECT id, name, description, price_fen AS "priceFen", image_path AS "imagePath" FROM goods WHERE active ORDER BY id LIMIT 20`,
);
const { rows: [{ total }] } = await pool.query(`SELECT count(*)::int AS total FROM goods WHERE active`);
await pool.end();

const app = express();
app.disable('x-powered-by');
app.set('view engine', 'ejs');
app.set('views', path.join(root, 'views'));
app.set('view cache', true);
app.locals.formatPrice = formatPrice;

app.get('/template', (_req, res) => {
  res.render('goods/index', { items, page: 1, pageCount: Math.max(1, Math.ceil(total / 20)), total, capped: false, hasNext: total > 20, q: '', csrfToken: 'x'.repeat(43), cartCount: 0 });
});

const bare = ejs.compile(
  `<!doctype html><html><head><meta charset="utf-8"><title>Catalog</title></head><body><ul>
<% for (const g of items) { %><li><a href="/goods/<%= g.id %>"><%= g.name %></a> <%= formatPrice(g.priceFen) %></li>
<% } %></ul></body></html>`,
);
app.get('/bare', (_req, res) => {
  res.type('html').send(bare({ items, formatPrice }));
});

const port = Number(process.env.PORT ?? 3200);
app.listen(port, '127.0.0.1', () => console.log(`catalog-bare listening on ${port}`));
