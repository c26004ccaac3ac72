import { describe, expect, it } from 'vitest';
import { SHORT_SEARCH_WINDOW } from '../../src/shop/admin-orders.js';
import { placeOrder } from '../../src/shop/orders.js';
import { useSignedInConsole } from '../support/admin.js';
import { useTestDatabase } from '../support/db.js';

// Searching the order list by part of a goods name: Chinese (no trigrams in a C-ctype database),
// ASCII of 3+ letters (trigrams), short ASCII (the newest orders only, and the page says so), and
// a text that matches buyers and goods at once (each read on its own index, pages still exact).

const t = useTestDatabase();
const c = useSignedInConsole(t);

async function orderOf(name: string, opts: { createdAt?: Date; buyer?: string } = {}) {
  const goods = await t.db.goods.upsert({ where: { name }, create: { name, priceFen: 500 }, update: {} });
  const order = await placeOrder(t.db, { lines: [{ goodsId: goods.id, quantity: 1 }], ttlMinutes: 30 });
  if (opts.createdAt) await t.sql('UPDATE orders SET created_at = $2 WHERE id = $1', [order.id, opts.createdAt]);
  if (opts.buyer) await t.sql('UPDATE orders SET buyer_logon_id = $2 WHERE id = $1', [order.id, opts.buyer]);
  return order.outTradeNo;
}

async function found(q: string, after?: string): Promise<{ orders: string[]; nextCursor: string | null }> {
  const res = await c.op.agent.get('/admin/orders.json').query({ q, ...(after ? { after } : {}) }).expect(200);
  return { orders: res.body.orders.map((o: { outTradeNo: string }) => o.outTradeNo), nextCursor: res.body.nextCursor };
}

describe('searching orders by goods name', () => {
  it('finds Chinese names by any part, one character too, and keeps the characters in order', async () => {
    const longjing = await orderOf('西湖龙井绿茶 Longjing');
    const white = await orderOf('稀有白茶');
    const unordered = await orderOf('茶叶 绿色包装');
    expect((await found('绿茶')).orders).toEqual([longjing]);
    expect((await found('龙井绿茶')).orders).toEqual([longjing]);
    expect((await found('茶')).orders).toEqual([unordered, white, longjing]);
    expect((await found('白')).orders).toEqual([white]);
    expect((await found('红茶')).orders).toEqual([]);
    expect((await found('longJING')).orders).toEqual([longjing]);
    expect((await found('ng Longj')).orders).toEqual([]);
    expect((await found('茶 Long')).orders).toEqual([longjing]);
  });

  it('pages through matches of a buyer prefix and of goods names together: newest first, none twice, none missed', async () => {
    const expected: string[] = [];
    const base = Date.parse('2030-01-01T00:00:00Z');
    for (let i = 0; i < 65; i++) {
      const kind = i % 3; // 0: buyer "tom…", 1: goods "Tomato", 2: both
      const no = await orderOf(kind === 0 ? 'Plain rice' : 'Tomato paste', {
        createdAt: new Date(base + i * 60_000),
        buyer: kind === 1 ? 'ann***@example.com' : `tom${i}***@example.com`,
      });
      expected.unshift(no);
    }
    await orderOf('Plain rice', { createdAt: new Date(base + 3_600_000), buyer: 'ann***@example.com' });
    const first = await found('tom');
    expect(first.orders).toHaveLength(50);
    const second = await found('tom', first.nextCursor!);
    expect([...first.orders, ...second.orders]).toEqual(expected);
    expect(second.nextCursor).toBeNull();
    const html = await c.op.agent.get('/admin/orders?q=tom').expect(200);
    expect(html.text).toMatch(/data-status="UNPAID">UNPAID <span class="count">65<\/span>/);
    expect(html.text).not.toContain('short-search-note');
  });

  it('looks through the newest orders only for a 1–2 letter name, and says so on the page', async () => {
    const old = await orderOf('Xy tea', { createdAt: new Date('2020-01-01T00:00:00Z') });
    const goods = await t.db.goods.upsert({ where: { name: 'Bulk rice' }, create: { name: 'Bulk rice', priceFen: 100 }, update: {} });
    await t.sql(`
      WITH o AS (
        INSERT INTO orders (out_trade_no, status, total_fen, subject, expires_at, created_at, updated_at)
        SELECT 'window' || lpad(i::text, 20, '0'), 'UNPAID', 100, 'Bulk', now(), '2021-01-01'::timestamptz + i * interval '1 second', now()
        FROM generate_series(1, ${SHORT_SEARCH_WINDOW}) AS i RETURNING id)
      INSERT INTO order_items (order_id, goods_id, name, unit_price_fen, quantity) SELECT id, ${goods.id}, 'Bulk rice', 100, 1 FROM o`);
    const recent = await orderOf('Xy herbal');
    expect((await found('Xy')).orders).toEqual([recent]);
    expect((await found('xy')).orders).toEqual([recent]);
    expect((await found('Xy tea')).orders).toEqual([old]);
    const page = await c.op.agent.get('/admin/orders?q=Xy').expect(200);
    expect(page.text).toContain('id="short-search-note"');
    expect(page.text).toContain(`newest ${SHORT_SEARCH_WINDOW.toLocaleString('en')} orders`);
    const chinese = await c.op.agent.get(`/admin/orders?q=${encodeURIComponent('茶')}`).expect(200);
    expect(chinese.text).not.toContain('short-search-note');
  });
});
