// The operator console's bench data: `orders` orders in bulk, one every 31.5 s back from now.
import type { Db } from '../src/db/client.js';

export async function generateOrders(db: Db, orders: number): Promise<void> {
  await db.goods.createMany({ data: Array.from({ length: 20 }, (_, i) => ({ name: i === 19 ? '稀有 Rare white tea' : `商品 Goods ${i + 1}`, priceFen: 1_000 + i * 137 })) });
  // One order every 31.5 s back from now: a year of orders. 70% paid, 5% refunded, 10% expired,
  // 5% closed, 10% unpaid; 0.1% flagged; one goods in 10,000 orders is "rare".
  await db.$executeRawUnsafe(`
    INSERT INTO orders (out_trade_no, status, total_fen, subject, expires_at, trade_no, buyer_logon_id, paid_at, closed_at,
                        refunded_fen, refunded_at, attention, created_at, updated_at)
    SELECT to_char(ts + interval '8 hours', 'YYYYMMDD') || substr(md5(i::text), 1, 24),
           st::"OrderStatus", total, 'Goods', ts + interval '30 minutes',
           CASE WHEN st IN ('PAID', 'REFUNDED') THEN '2026' || lpad(i::text, 24, '0') END,
           CASE WHEN st IN ('PAID', 'REFUNDED') THEN 'b' || (i % 5000) || '***@example.com' END,
           CASE WHEN st IN ('PAID', 'REFUNDED') THEN ts + interval '1 minute' END,
           CASE WHEN st IN ('CLOSED', 'EXPIRED') THEN ts + interval '30 minutes' END,
           CASE WHEN st = 'REFUNDED' THEN total WHEN i % 100 = 69 THEN 50 ELSE 0 END,
           CASE WHEN st = 'REFUNDED' OR i % 100 = 69 THEN ts + interval '1 day' END,
           CASE WHEN i % 1000 = 0 THEN 'bench flag' END,
           ts, ts
    FROM generate_series(1, ${orders}) AS i,
         LATERAL (SELECT now() - i * interval '31.536 seconds' AS ts, (100 + (i::bigint * 7919) % 50000)::int AS total,
                         CASE WHEN i % 100 < 70 THEN 'PAID' WHEN i % 100 < 75 THEN 'REFUNDED' WHEN i % 100 < 85 THEN 'EXPIRED'
                              WHEN i % 100 < 90 THEN 'CLOSED' ELSE 'UNPAID' END AS st) x`);
  await db.$executeRawUnsafe(`
    INSERT INTO order_items (order_id, goods_id, name, unit_price_fen, quantity)
    SELECT o.id, g.id, g.name, o.total_fen, 1
    FROM orders o JOIN goods g ON g.name = CASE WHEN o.id % 10000 = 0 THEN '稀有 Rare white tea' ELSE '商品 Goods ' || (o.id % 19 + 1) END`);
  await db.$executeRawUnsafe('VACUUM ANALYZE orders');
  await db.$executeRawUnsafe('VACUUM ANALYZE order_items');
}
