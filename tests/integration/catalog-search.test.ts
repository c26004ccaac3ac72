import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { COUNT_CAP, listGoods, MAX_PAGES, PAGE_SIZE } from '../../src/shop/goods.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();
let app: ReturnType<typeof buildApp>;

// 1,250 goods: "批量" in every name (more than COUNT_CAP), Alpha in a third, 壶 in the last 30
// only (past a small scan window), "#7…" in a few; some inactive.
const GOODS = 1_250;

beforeAll(async () => {
  await t.db.goods.createMany({
    data: Array.from({ length: GOODS }, (_, i) => ({
      name: `批量 ${i % 3 === 0 ? 'Alpha' : 'Beta'}${i >= GOODS - 30 ? ' 紫砂壶' : ''} #${i}`,
      priceFen: 100 + i,
      active: i % 17 !== 5,
    })),
  });
  app = buildApp(t.db);
});

async function reference(q: string): Promise<number[]> {
  const pattern = `%${q.replace(/[\\%_]/g, '\\$&')}%`;
  return (await t.sql<{ id: number }>('SELECT id FROM goods WHERE active AND name ILIKE $1 ORDER BY id', [pattern])).map((r) => r.id);
}

describe('listGoods: counted up to the cap, paged with one extra row', () => {
  const queries = ['批量', '批', 'alpha', 'ALPHA', '壶', '紫砂壶', '#7', '#77', '#1249', 'no such goods', '量 A', '%', ''];
  // Window sizes that send every query down each path: all in the window, some, none.
  it.each([
    [1, 1],
    [10, 40],
    [10, 700],
    [1, 1_600],
    [100, 100_000],
    [2_000, 100_000],
  ])('gives the same page and count as a plain ILIKE scan, probe window %i, scan window %i', async (probeWindow, scanWindow) => {
    for (const q of queries) {
      const all = q ? await reference(q) : (await t.sql<{ id: number }>('SELECT id FROM goods WHERE active ORDER BY id')).map((r) => r.id);
      const lastPage = all.length > COUNT_CAP ? MAX_PAGES : Math.max(1, Math.ceil(all.length / PAGE_SIZE));
      for (const page of [1, 2, 3, lastPage - 1, lastPage, lastPage + 1, 99_999].filter((p) => p >= 1)) {
        const got = await listGoods(t.db, { q, page, probeWindow, scanWindow });
        const shown = Math.min(page, lastPage);
        const label = `q=${q} page=${page} windows=${probeWindow}/${scanWindow}`;
        expect(got.page, label).toBe(shown);
        expect(got.items.map((g) => g.id), label).toEqual(all.slice((shown - 1) * PAGE_SIZE, shown * PAGE_SIZE));
        expect(got.total, label).toBe(Math.min(all.length, COUNT_CAP));
        expect(got.capped, label).toBe(all.length > COUNT_CAP);
        expect(got.pageCount, label).toBe(lastPage);
        expect(got.hasNext, label).toBe(shown < lastPage);
      }
    }
  });
});

describe('catalog page: result count and paging', () => {
  it('says "1,000+ results" for a common term, pages up to the cap, and says how to find the rest', async () => {
    const first = await request(app).get('/').query({ q: '批量' }).expect(200);
    expect(first.text).toContain('1,000+ results');
    expect(first.text).toContain('Page 1<');
    expect(first.text).toContain(`href="?q=${encodeURIComponent('批量')}&amp;page=2">Next`);
    expect(first.text).not.toContain('rel="prev"');
    expect(first.text.match(/<li class="goods-card">/g)).toHaveLength(PAGE_SIZE);

    const beyond = await request(app).get('/').query({ q: '批量', page: '51' }).expect(200);
    expect(beyond.text).toContain(`Page ${MAX_PAGES}<`);
    expect(beyond.text).not.toContain('rel="next"');
    expect(beyond.text).toContain('Only the first 1,000 are shown. Add to your search to find the others.');
    expect(beyond.text.match(/<li class="goods-card">/g)).toHaveLength(PAGE_SIZE);
  });

  it('counts exactly below the cap and shows the last page for a page past it', async () => {
    const exact = (await reference('Alpha')).length;
    expect(exact).toBeLessThan(COUNT_CAP);
    const res = await request(app).get('/').query({ q: 'Alpha', page: '999' }).expect(200);
    const pages = Math.ceil(exact / PAGE_SIZE);
    expect(res.text).toContain(`${exact} results`);
    expect(res.text).toContain(`Page ${pages} of ${pages}`);
    expect(res.text).not.toContain('rel="next"');
    expect(res.text).not.toContain('Only the first');
    expect(res.text.match(/<li class="goods-card">/g)).toHaveLength(exact - (pages - 1) * PAGE_SIZE);
  });

  it('finds a 1-character term that only the newest goods have, and says "1 result" for one', async () => {
    const res = await request(app).get('/').query({ q: '壶' }).expect(200);
    const matches = (await reference('壶')).length;
    expect(res.text).toContain(`${matches} results`);
    expect(res.text).toContain('Page 1 of 2');
    const one = await request(app).get('/').query({ q: '#1249' }).expect(200);
    expect(one.text).toContain('1 result<');
    expect(one.text).not.toContain('class="pagination"');
  });

  it('says "1,000+ goods" on the unfiltered catalog and nothing about a count when nothing matched', async () => {
    const all = await request(app).get('/').expect(200);
    expect(all.text).toContain('1,000+ goods');
    const none = await request(app).get('/').query({ q: 'no such goods' }).expect(200);
    expect(none.text).toContain('No goods found');
    expect(none.text).not.toContain('class="result-count"');
  });
});
