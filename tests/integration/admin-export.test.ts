import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { csvLine } from '../../src/admin/present.js';
import { poolOf } from '../../src/db/client.js';
import { beijingDateTime } from '../../src/lib/beijing-time.js';
import { formatYuan } from '../../src/lib/money.js';
import { placeOrder } from '../../src/shop/orders.js';
import { FakeAlipayApi, fakePayments } from '../support/alipay.js';
import { csrfTokenOf, OPERATOR_PASSWORD, signedInOperator } from '../support/admin.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

// The CSV export is formatted by PostgreSQL and streamed with COPY: these tests hold it to what
// the JavaScript formatting (present.ts csvLine, beijingDateTime, formatYuan) writes.

const t = useTestDatabase();
let app: ReturnType<typeof buildApp>;
let run = 0;

beforeAll(() => {
  app = buildApp(t.db, { payments: fakePayments(new FakeAlipayApi()) });
});

async function csvOf(op: Awaited<ReturnType<typeof signedInOperator>>, query: string): Promise<string> {
  const res = await op.agent
    .get(`/admin/orders.csv?${query}`)
    .buffer(true)
    .parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    })
    .expect(200);
  const text = (res.body as Buffer).toString('utf8');
  expect(text.startsWith('\uFEFFOrder no.,')).toBe(true);
  expect(text.endsWith('\r\n')).toBe(true);
  return text.slice(1);
}

/** An order with the given goods (names as they come), made paid/flagged/refunded directly in the database. */
async function orderWith(names: [string, number][], opts: { createdAt?: Date; paid?: boolean; attention?: string; refundedFen?: number } = {}) {
  run++;
  const lines = [];
  for (const [name, quantity] of names) {
    const goods = await t.db.goods.upsert({ where: { name }, create: { name, priceFen: 1_234 }, update: {} });
    lines.push({ goodsId: goods.id, quantity });
  }
  const order = await placeOrder(t.db, { lines, ttlMinutes: 30, now: opts.createdAt });
  if (opts.createdAt) await t.sql('UPDATE orders SET created_at = $2 WHERE id = $1', [order.id, opts.createdAt]);
  if (opts.paid) {
    await t.sql(
      `UPDATE orders SET status = 'PAID', trade_no = $2, buyer_logon_id = $3, paid_at = created_at + interval '61.5 seconds', refunded_fen = $4, attention = $5 WHERE id = $1`,
      [order.id, `2026${run}${Date.now()}`, `b${run}***@example.com`, opts.refundedFen ?? 0, opts.attention ?? null],
    );
  }
  return t.db.order.findUniqueOrThrow({ where: { id: order.id }, include: { items: { orderBy: { id: 'asc' } } } });
}

/** A session cookie for plain HTTP clients (the download is cancelled at the socket). */
async function signInOver(base: string, email: string): Promise<string> {
  const page = await fetch(`${base}/admin/login`);
  const csrf = page.headers.getSetCookie().find((c) => c.startsWith('shop.csrf='))!.split(';')[0]!;
  const token = csrfTokenOf(await page.text());
  const res = await fetch(`${base}/admin/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: csrf, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: token, email, password: OPERATOR_PASSWORD }).toString(),
  });
  expect(res.status).toBe(303);
  return `${csrf}; ${res.headers.getSetCookie().find((c) => c.startsWith('admin.sid='))!.split(';')[0]!}`;
}

type OrderWithItems = Awaited<ReturnType<typeof orderWith>>;

/** What the export must write for an order: the JavaScript formatting, cell by cell. */
function expectedLine(o: OrderWithItems): string {
  return csvLine([
    o.outTradeNo,
    beijingDateTime(o.createdAt),
    o.items.map((i) => (i.quantity === 1 ? i.name : `${i.name} ×${i.quantity}`)).join('; '),
    formatYuan(o.totalFen),
    o.status,
    o.paidAt ? beijingDateTime(o.paidAt) : '',
    o.tradeNo ?? '',
    o.buyerLogonId ?? '',
    formatYuan(o.refundedFen),
    o.attention ?? '',
  ]);
}

describe('the CSV export', () => {
  it('writes every cell as the JavaScript formatting does: formulas defused, quotes, commas and newlines quoted', async () => {
    const op = await signedInOperator(app, t.db);
    const tricky = await orderWith([['=HYPERLINK("http://evil.example","点我")', 1], ['say "hi", 茶', 2], ['two\nlines\r\nhere', 1]], {
      paid: true,
      attention: '-amount, check',
      refundedFen: 5,
    });
    const formulas = await Promise.all(['+1+1', '-2', '@SUM(A1)', '\tTab', '\rCR', "'quoted"].map((name) => orderWith([[name, 1]])));
    const plain = await orderWith([['龙井绿茶 Longjing', 3]], { paid: true });
    const lines = await csvOf(op, '');
    for (const o of [tricky, ...formulas, plain]) expect(lines).toContain(expectedLine(o));
    // Spelled out too, so that the reference formatting itself is pinned:
    expect(lines).toContain(`${tricky.outTradeNo},`);
    expect(lines).toContain(`,"'=HYPERLINK(""http://evil.example"",""点我""); say ""hi"", 茶 ×2; two\nlines\r\nhere",`);
    expect(lines).toContain(`,"'-amount, check"\r\n`);
    expect(lines).toContain(`,'+1+1,12.34,UNPAID,,,,0.00,\r\n`);
    expect(lines).toContain(`,'@SUM(A1),`);
    expect(lines).toContain(`,"'\rCR",`);
    expect(lines).toContain(`,'quoted,12.34,`);
    expect(lines).toContain(`,龙井绿茶 Longjing ×3,37.02,PAID,`);
    expect(lines).toContain(`,37.02,PAID,${beijingDateTime(plain.paidAt!)},${plain.tradeNo},${plain.buyerLogonId},0.00,\r\n`);
    expect(lines).toContain(`,${tricky.buyerLogonId},0.05,`);
  });

  it('applies the list filters and counts days and times in Beijing time (UTC+8)', async () => {
    const op = await signedInOperator(app, t.db);
    // 2036-03-01 00:00:00 in Beijing is 2036-02-29 16:00:00 UTC; one millisecond earlier is the day before.
    const startOfDay = await orderWith([['Boundary tea', 1]], { createdAt: new Date('2036-02-29T16:00:00.000Z'), paid: true });
    const endOfDayBefore = await orderWith([['Boundary tea', 1]], { createdAt: new Date('2036-02-29T15:59:59.999Z') });
    const nextDay = await orderWith([['Boundary tea', 1]], { createdAt: new Date('2036-03-01T16:00:00.000Z') });
    const day = await csvOf(op, 'from=2036-03-01&to=2036-03-01');
    const rows = day.trim().split('\r\n').slice(1);
    expect(rows).toEqual([expectedLine(startOfDay).trimEnd()]);
    expect(rows[0]).toMatch(new RegExp(`^${startOfDay.outTradeNo},2036-03-01 00:00:00,Boundary tea,12.34,PAID,2036-03-01 00:01:01,`));
    const before = await csvOf(op, 'to=2036-02-29&q=Boundary');
    expect(before).toContain(`${endOfDayBefore.outTradeNo},2036-02-29 23:59:59,Boundary tea,`);
    expect(before).not.toContain(startOfDay.outTradeNo);
    const unpaid = await csvOf(op, 'status=UNPAID&from=2036-02-29&to=2036-03-02');
    expect(unpaid.trim().split('\r\n').slice(1)).toEqual([expectedLine(nextDay), expectedLine(endOfDayBefore)].map((l) => l.trimEnd()));
    const bothStatuses = await csvOf(op, 'status=UNPAID&status=PAID&from=2036-02-29&to=2036-03-02');
    expect(bothStatuses.trim().split('\r\n')).toHaveLength(4);
    const byName = await csvOf(op, `q=${encodeURIComponent("say \"hi\", 茶")}`);
    expect(byName.match(/^\d{8}[0-9a-f]{24},/gm)).toHaveLength(1);
    expect(byName).toContain('say ""hi"", 茶 ×2');
    const quoteInSearch = await csvOf(op, `q=${encodeURIComponent("O'Brien\\%_")}`);
    expect(quoteInSearch.trim().split('\r\n')).toHaveLength(1);
  });

  it('stops and gives its database connection back when the operator cancels the download', async () => {
    const op = await signedInOperator(app, t.db);
    // Enough rows (≈ 8 MB) that the export cannot sit finished in socket buffers.
    const goods = await t.db.goods.create({ data: { name: 'Bulk tea', priceFen: 100 } });
    await t.sql(`
      WITH o AS (
        INSERT INTO orders (out_trade_no, status, total_fen, subject, expires_at, created_at, updated_at)
        SELECT 'bulk' || lpad(i::text, 20, '0'), 'UNPAID', 100, 'Bulk', now(), now() - i * interval '1 second', now()
        FROM generate_series(1, 60000) AS i RETURNING id)
      INSERT INTO order_items (order_id, goods_id, name, unit_price_fen, quantity) SELECT id, ${goods.id}, 'Bulk tea', 100, 1 FROM o`);
    const pool = poolOf(t.db)!;
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as AddressInfo;
      const cookie = await signInOver(`http://127.0.0.1:${port}`, op.email);
      const copyRunning = async () =>
        (await t.sql<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT%' AND pid <> pg_backend_pid()`))[0]!.n;
      for (let round = 0; round < 3; round++) {
        const received = await new Promise<{ bytes: number; running: number }>((resolve, reject) => {
          const req = http.get({ port, path: '/admin/orders.csv', headers: { cookie } }, (res) => {
            expect(res.statusCode).toBe(200);
            let bytes = 0;
            res.on('data', (chunk: Buffer) => {
              bytes += chunk.length;
              // A slow client: stop reading, and the export must wait for it rather than buffer.
              if (bytes > 100_000) res.pause();
            });
            // Held up by the client, the export waits too: PostgreSQL is still in the middle of the COPY.
            setTimeout(() => {
              void copyRunning().then((running) => {
                req.destroy();
                resolve({ bytes, running });
              }, reject);
            }, 2_000);
          });
          req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
        });
        expect(received.running).toBe(1);
        expect(received.bytes).toBeLessThan(1_000_000);
        await expect.poll(() => pool.totalCount - pool.idleCount, { timeout: 5_000 }).toBe(0);
        await expect.poll(copyRunning, { timeout: 5_000 }).toBe(0);
      }
      // The pool still works (a connection closed mid-COPY was not handed out again).
      const full = await csvOf(op, 'q=bulk0000000000000000000');
      expect(full.trim().split('\r\n')).toHaveLength(10);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
