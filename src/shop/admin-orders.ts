import type { Readable } from 'node:stream';
import { escapeLiteral } from 'pg';
import { queryRows, queryRowsSerial, type Db } from '../db/client.js';
import { copyValuesOut } from '../db/copy-out.js';
import type { OrderStatus } from '../generated/prisma/client.js';
import { beijingDate, startOfBeijingDay } from '../lib/beijing-time.js';
import { fenFromDb, formatYuanSql } from '../lib/money.js';
import { searchText } from './search-text.js';
import { InvalidRequestError, NotFoundError } from './errors.js';

// What the operator console reads: the order list (filters, keyset pages, counts, export), one
// order with its timeline, and the dashboard. Plain SQL on the hot paths (1,000,000 orders).

export const ORDER_STATUSES: readonly OrderStatus[] = ['UNPAID', 'PAID', 'REFUNDED', 'CLOSED', 'EXPIRED'];
export const PAGE_SIZE = 50;
/** Tab counts stop counting here ("10,000+"): an exact count of a million rows costs more than it tells. */
export const COUNT_CAP = 10_000;
/** With a search text the matches are read row by row (goods names): counted up to here ("200+"). */
export const SEARCH_COUNT_CAP = 200;
const MAX_Q = 100;

export interface OrderFilters {
  statuses: OrderStatus[];
  /** Order no. / trade no. / buyer account prefix, or part of a goods name. */
  q?: string;
  /** Beijing dates (YYYY-MM-DD), inclusive. */
  from?: string;
  to?: string;
  attention: boolean;
}

export interface AdminOrderRow {
  id: number;
  outTradeNo: string;
  status: OrderStatus;
  totalFen: number;
  refundedFen: number;
  tradeNo: string | null;
  buyerLogonId: string | null;
  createdAt: Date;
  paidAt: Date | null;
  attention: string | null;
  items: { name: string; quantity: number; unitPriceFen: number }[];
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function parseDate(value: string, name: string): Date {
  const date = new Date(`${value}T00:00:00+08:00`);
  if (!DATE.test(value) || Number.isNaN(date.getTime()) || beijingDate(date) !== value) {
    throw new InvalidRequestError(`${name} must be a date like 2026-11-25 (got "${value}").`);
  }
  return date;
}

/** Filters from a query string (the URL is the bookmark); anything malformed is a 400 with a message. */
export function parseOrderFilters(query: Record<string, unknown>): OrderFilters {
  const list = (v: unknown): string[] => (Array.isArray(v) ? v : v === undefined || v === '' ? [] : [v]).map(String);
  const statuses = [...new Set(list(query.status).filter((s) => s !== ''))];
  for (const s of statuses) {
    if (!(ORDER_STATUSES as string[]).includes(s)) throw new InvalidRequestError(`Unknown status "${s}": use ${ORDER_STATUSES.join(', ')}.`);
  }
  const one = (name: string): string | undefined => {
    const v = query[name];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') throw new InvalidRequestError(`Give ${name} once.`);
    return v.trim() || undefined;
  };
  const q = searchText(query.q, MAX_Q);
  const from = one('from');
  const to = one('to');
  if (from) parseDate(from, 'from');
  if (to) parseDate(to, 'to');
  if (from && to && from > to) throw new InvalidRequestError('"from" is after "to".');
  const attention = one('attention');
  if (attention !== undefined && attention !== '1' && attention !== '0') throw new InvalidRequestError('attention must be 1 (flagged orders only) or 0.');
  return { statuses: statuses as OrderStatus[], q, from, to, attention: attention === '1' };
}

/** The filters as query parameters again (for links, tabs, the CSV and next-page URLs). */
export function filtersToQuery(f: OrderFilters, extra: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const s of f.statuses) params.append('status', s);
  if (f.q) params.set('q', f.q);
  if (f.from) params.set('from', f.from);
  if (f.to) params.set('to', f.to);
  if (f.attention) params.set('attention', '1');
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) params.set(k, v);
  const text = params.toString();
  return text ? `?${text}` : '';
}

export function encodeCursor(row: { createdAt: Date; id: number }): string {
  return Buffer.from(`${row.createdAt.getTime()}.${row.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: number } {
  const match = /^(\d{1,15})\.(\d{1,10})$/.exec(cursor.length <= 64 ? Buffer.from(cursor, 'base64url').toString('latin1') : '');
  if (!match) throw new InvalidRequestError('This page link is not valid (bad "after" cursor): start again from the first page.');
  return { createdAt: new Date(Number(match[1])), id: Number(match[2]) };
}

class Sql {
  readonly params: unknown[] = [];
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Digits, or 8+ hex digits: (the start of) an order or trade number, not a goods name. */
function isNumberLike(q: string): boolean {
  return /^\d+$/.test(q) || /^[0-9a-f]{8,}$/i.test(q) || q.includes('@') || q.includes('*');
}

/** How many of the newest orders a short goods-name search looks through (see isShortSearch). */
export const SHORT_SEARCH_WINDOW = 10_000;

/** 3+ ASCII letters or digits in a row: pg_trgm finds trigrams in the search (C ctype: ASCII only). */
function hasTrigrams(q: string): boolean {
  return /[A-Za-z0-9]{3}/.test(q);
}

/**
 * A goods-name search that no index serves: ASCII only, without 3 letters or digits in a row
 * (e.g. "x", "7", "a b"). Trigrams need 3, and single ASCII letters are in nearly every name, so
 * the character index cannot narrow them. Such a search looks through the newest
 * SHORT_SEARCH_WINDOW orders only, and the page says so.
 */
export function isShortSearch(q: string | undefined): boolean {
  return q !== undefined && !isNumberLike(q) && !hasTrigrams(q) && /^[\x20-\x7e]*$/.test(q);
}

/**
 * Items whose name contains q (case-insensitively), shaped for the index that can serve q:
 * trigrams (order_items_name_trgm_idx) for 3+ ASCII letters or digits; otherwise each name's
 * characters (order_items_name_chars_idx), which is what serves Chinese: the database's C ctype
 * gives Chinese text no trigrams at all.
 */
function nameContains(sql: Sql, q: string): string {
  const pattern = sql.param(`%${escapeLike(q)}%`);
  // No index helps (see isShortSearch). lower() LIKE, which the trigram index does not match, so
  // the planner checks the orders in the window one by one instead of reading all of that index.
  if (isShortSearch(q)) return `lower(i.name) LIKE lower(${pattern})`;
  const contains = `i.name ILIKE ${pattern}`;
  if (hasTrigrams(q)) return contains;
  return `regexp_split_to_array(lower(i.name), '') @> regexp_split_to_array(lower(${sql.param(q)}), '') AND ${contains}`;
}

interface Where {
  /** Conditions that all hold. */
  all: string[];
  /** The search text's alternatives (any one matches), each served by an index of its own. */
  any: string[];
}

function whereClause(sql: Sql, f: OrderFilters, opts: { withStatus: boolean }): Where {
  const all: string[] = [];
  const any: string[] = [];
  if (opts.withStatus && f.statuses.length === 1) all.push(`o.status = ${sql.param(f.statuses[0])}::"OrderStatus"`);
  else if (opts.withStatus && f.statuses.length > 1) all.push(`o.status = ANY(${sql.param(f.statuses)}::"OrderStatus"[])`);
  if (f.from) all.push(`o.created_at >= ${sql.param(parseDate(f.from, 'from'))}`);
  if (f.to) all.push(`o.created_at < ${sql.param(startOfBeijingDay(parseDate(f.to, 'to'), 1))}`);
  if (f.attention) all.push('o.attention IS NOT NULL');
  if (f.q) {
    const prefix = sql.param(`${escapeLike(f.q)}%`);
    any.push(`o.out_trade_no LIKE ${prefix}`, `o.buyer_logon_id LIKE ${prefix}`);
    if (isNumberLike(f.q)) {
      any.push(`o.trade_no LIKE ${prefix}`);
    } else {
      // Part of a goods name: through an index when the name is rare, newest first when common.
      const window = isShortSearch(f.q)
        ? `o.created_at >= coalesce((SELECT created_at FROM orders ORDER BY created_at DESC, id DESC OFFSET ${SHORT_SEARCH_WINDOW - 1} LIMIT 1), '-infinity') AND `
        : '';
      any.push(`${window}EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id AND ${nameContains(sql, f.q)})`);
    }
  }
  return { all, any };
}

const NEWEST_FIRST = 'ORDER BY o.created_at DESC, o.id DESC';

function conditions(list: string[]): string {
  return list.length ? `WHERE ${list.join(' AND ')}` : '';
}

/**
 * The ids of the orders a search matches, each alternative read on its own with `tail` (order,
 * limit) — an OR of them would be read newest first through the whole table. May repeat an id.
 */
function searchIds(w: Where, extra: string[], tail: string): string {
  return w.any.map((alt) => `(SELECT o.id FROM orders o ${conditions([...w.all, ...extra, alt])} ${tail})`).join(' UNION ALL ');
}

/** Every condition in one WHERE, for reading all matches (the export). */
function allMatching(w: Where): string {
  return conditions(w.any.length ? [...w.all, `(${w.any.join(' OR ')})`] : w.all);
}

const COLUMNS = `o.id, o.out_trade_no, o.status::text AS status, o.total_fen, o.refunded_fen, o.trade_no, o.buyer_logon_id,
  o.created_at, o.paid_at, o.attention,
  COALESCE((SELECT json_agg(json_build_object('name', i.name, 'quantity', i.quantity, 'unitPriceFen', i.unit_price_fen) ORDER BY i.id)
            FROM order_items i WHERE i.order_id = o.id), '[]'::json) AS items`;

interface Row {
  id: number;
  out_trade_no: string;
  status: OrderStatus;
  total_fen: number;
  refunded_fen: number;
  trade_no: string | null;
  buyer_logon_id: string | null;
  created_at: Date;
  paid_at: Date | null;
  attention: string | null;
  items: AdminOrderRow['items'];
}

function toOrder(r: Row): AdminOrderRow {
  return {
    id: r.id,
    outTradeNo: r.out_trade_no,
    status: r.status,
    totalFen: r.total_fen,
    refundedFen: r.refunded_fen,
    tradeNo: r.trade_no,
    buyerLogonId: r.buyer_logon_id,
    createdAt: r.created_at,
    paidAt: r.paid_at,
    attention: r.attention,
    items: r.items,
  };
}

async function selectPage(db: Db, f: OrderFilters, after: { createdAt: Date; id: number } | undefined, limit: number): Promise<AdminOrderRow[]> {
  const sql = new Sql();
  const where = whereClause(sql, f, { withStatus: true });
  const keyset = after ? [`(o.created_at, o.id) < (${sql.param(after.createdAt)}, ${sql.param(after.id)})`] : [];
  const take = `LIMIT ${sql.param(limit)}`;
  const matching = where.any.length ? `WHERE o.id IN (${searchIds(where, keyset, `${NEWEST_FIRST} ${take}`)})` : conditions([...where.all, ...keyset]);
  const text = `SELECT ${COLUMNS} FROM orders o ${matching} ${NEWEST_FIRST} ${take}`;
  return (await queryRowsSerial<Row>(db, text, sql.params)).map(toOrder);
}

/** One page, newest first, keyset-paginated on (created_at, id): stable while new orders arrive. */
export async function listAdminOrders(db: Db, f: OrderFilters, opts: { after?: string; limit?: number } = {}) {
  const limit = opts.limit ?? PAGE_SIZE;
  const rows = await selectPage(db, f, opts.after ? decodeCursor(opts.after) : undefined, limit + 1);
  const orders = rows.slice(0, limit);
  const last = orders.at(-1);
  return { orders, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

/**
 * Orders per status under the current filters (status aside), each capped at COUNT_CAP. Without a
 * search text each status is counted on its own index; with one, the newest SEARCH_COUNT_CAP
 * matches of each search alternative are counted together.
 */
export async function countOrdersByStatus(db: Db, f: OrderFilters): Promise<{ counts: Record<OrderStatus, number>; cap: number }> {
  const sql = new Sql();
  const where = whereClause(sql, f, { withStatus: false });
  const capValue = f.q ? SEARCH_COUNT_CAP : COUNT_CAP;
  const cap = sql.param(capValue + 1);
  const text = where.any.length
    ? `SELECT o.status::text AS status, count(*)::int AS n FROM orders o WHERE o.id IN (${searchIds(where, [], `${NEWEST_FIRST} LIMIT ${cap}`)}) GROUP BY 1`
    : `SELECT s.status::text AS status,
        (SELECT count(*)::int FROM (SELECT 1 FROM orders o WHERE o.status = s.status ${where.all.map((w) => `AND ${w}`).join(' ')} LIMIT ${cap}) x) AS n
      FROM unnest(enum_range(NULL::"OrderStatus")) AS s(status)`;
  const rows = await queryRowsSerial<{ status: OrderStatus; n: number }>(db, text, sql.params);
  const counts = Object.fromEntries(ORDER_STATUSES.map((s) => [s, 0])) as Record<OrderStatus, number>;
  for (const r of rows) counts[r.status] = r.n;
  return { counts, cap: capValue };
}

/**
 * Values written into the SQL text itself, for COPY (which takes no parameters). Only values the
 * filters already checked reach here; strings go through pg's escapeLiteral all the same.
 */
class InlineSql extends Sql {
  override param(value: unknown): string {
    if (typeof value === 'string') return escapeLiteral(value);
    if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
    if (value instanceof Date) return `${escapeLiteral(value.toISOString())}::timestamptz`;
    if (Array.isArray(value)) return `ARRAY[${value.map((v) => this.param(v)).join(', ')}]::text[]`;
    throw new Error(`cannot inline ${typeof value} into SQL`);
  }
}

const FORMULA_START = `E'^[-=+@\\t\\r]'`;
const NEEDS_QUOTES = `E'[",\\r\\n]'`;

/** present.ts csvCell in SQL: text a spreadsheet would read as a formula gets a leading ', then quotes when needed. */
function csvCell(expr: string): string {
  return `CASE WHEN ${expr} !~ E'^[-=+@\\t\\r]|[",\\r\\n]' THEN ${expr}
    WHEN ${expr} ~ ${NEEDS_QUOTES} THEN '"' || replace(CASE WHEN ${expr} ~ ${FORMULA_START} THEN '''' ELSE '' END || ${expr}, '"', '""') || '"'
    ELSE '''' || ${expr} END`;
}

/** An instant in Beijing wall-clock time, as beijingDateTime writes it: "2026-11-25 21:51:52". */
function beijingText(expr: string): string {
  return `to_char(${expr} AT TIME ZONE 'UTC' + interval '8 hours', 'YYYY-MM-DD HH24:MI:SS')`;
}

/**
 * The CSV export as a SELECT of one text column, each row a finished CSV line (CRLF) in the order
 * of present.ts CSV_HEADER, newest first. Formatted by PostgreSQL and streamed out with COPY: a
 * million rows never become JavaScript objects.
 */
export function exportOrdersQuery(f: OrderFilters): string {
  const sql = new InlineSql();
  const where = whereClause(sql, f, { withStatus: true });
  const cells = [
    csvCell('o.out_trade_no'),
    beijingText('o.created_at'),
    `coalesce(${csvCell('it.summary')}, '')`,
    formatYuanSql('o.total_fen'),
    'o.status::text',
    `coalesce(${beijingText('o.paid_at')}, '')`,
    `coalesce(${csvCell('o.trade_no')}, '')`,
    `coalesce(${csvCell('o.buyer_logon_id')}, '')`,
    formatYuanSql('o.refunded_fen'),
    `coalesce(${csvCell('o.attention')}, '')`,
  ];
  return `SELECT ${cells.join(" || ',' || ")} || E'\\r\\n'
    FROM orders o
    CROSS JOIN LATERAL (
      SELECT string_agg(CASE WHEN i.quantity = 1 THEN i.name ELSE i.name || ' ×' || i.quantity END, '; ' ORDER BY i.id) AS summary
      FROM order_items i WHERE i.order_id = o.id) it
    ${allMatching(where)}
    ${NEWEST_FIRST}`;
}

/** Every matching order as CSV lines (no header), streamed from PostgreSQL with backpressure. */
export function exportOrdersCsv(db: Db, f: OrderFilters): Promise<Readable> {
  return copyValuesOut(db, exportOrdersQuery(f));
}

export interface TimelineEntry {
  at: Date;
  kind: 'created' | 'notification' | 'query' | 'operator' | 'note' | 'refund';
  outcome: string;
  detail: string;
  /** Who did it, for operator actions. */
  actor?: string;
  /** The message as received (sign masked), for notifications and query answers. */
  raw?: string;
}

/** The raw message with the signature masked: enough to debug, nothing to replay. */
export function maskSignature(raw: string): string {
  return raw.replace(/(^|&)sign=[^&]*/g, '$1sign=***').replace(/("sign"\s*:\s*")[^"]*"/g, '$1***"');
}

const TIMELINE_LIMIT = 500;

/** One order for the console: items, refunds and everything that happened to it, in time order. */
export async function getAdminOrder(db: Db, outTradeNo: string) {
  const order = await db.order.findUnique({
    where: { outTradeNo },
    include: {
      items: { orderBy: { id: 'asc' } },
      refunds: { orderBy: { id: 'asc' }, include: { operator: { select: { email: true } } } },
    },
  });
  if (!order) throw new NotFoundError(`There is no order ${outTradeNo}.`);
  const [events, actions] = await Promise.all([
    db.paymentEvent.findMany({ where: { orderId: order.id }, orderBy: { id: 'desc' }, take: TIMELINE_LIMIT }),
    db.operatorAction.findMany({ where: { orderId: order.id }, orderBy: { id: 'desc' }, take: TIMELINE_LIMIT }),
  ]);
  const timeline: TimelineEntry[] = [
    { at: order.createdAt, kind: 'created' as const, outcome: 'created', detail: `order placed: ${order.subject}` },
    ...events.map((e): TimelineEntry => ({
      at: e.receivedAt,
      kind: e.source === 'NOTIFY' ? 'notification' : 'query',
      outcome: `${e.verified ? '' : 'unverified, '}${e.outcome}`,
      detail: [e.tradeStatus, e.reason].filter(Boolean).join(': ') || e.outcome,
      raw: maskSignature(e.rawBody),
    })),
    ...actions.map((a): TimelineEntry => ({
      at: a.createdAt,
      kind: a.action === 'note' ? 'note' : a.action.startsWith('refund') ? 'refund' : 'operator',
      outcome: `${a.action} ${a.outcome}`,
      detail: a.detail ?? '',
      actor: a.operatorEmail,
    })),
  ].sort((x, y) => x.at.getTime() - y.at.getTime());
  return { order, timeline };
}

export type AdminOrderDetail = Awaited<ReturnType<typeof getAdminOrder>>;

export interface Dashboard {
  revenueFen: { today: number; last7Days: number; last30Days: number };
  /** Orders created in the last 30 days, per status. */
  byStatus: Record<OrderStatus, number>;
  created: number;
  /** Of the orders created in the last 30 days, how many were paid (0..1). */
  paidRate: number | null;
  flagged: number;
  /** Paid revenue per Beijing day, oldest first, 30 days ending today. */
  daily: { date: string; fen: number }[];
}

/** Revenue is net of refunds and counted on the (Beijing) day the order was paid. */
export async function getDashboard(db: Db, now = new Date()): Promise<Dashboard> {
  const today = startOfBeijingDay(now);
  const days7 = startOfBeijingDay(now, -6);
  const days30 = startOfBeijingDay(now, -29);
  const [daily, statuses, flagged] = await Promise.all([
    queryRows<{ day: string; fen: string }>(
      db,
      `SELECT to_char((o.paid_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD') AS day, sum(o.total_fen - o.refunded_fen)::bigint AS fen
       FROM orders o WHERE o.paid_at >= $1 AND o.status IN ('PAID', 'REFUNDED') GROUP BY 1`,
      [days30],
    ),
    queryRows<{ status: OrderStatus; n: number }>(
      db,
      `SELECT o.status::text AS status, count(*)::int AS n FROM orders o WHERE o.created_at >= $1 GROUP BY 1`,
      [days30],
    ),
    queryRows<{ n: number }>(db, 'SELECT count(*)::int AS n FROM orders o WHERE o.attention IS NOT NULL', []),
  ]);
  const byDay = new Map(daily.map((d) => [d.day, fenFromDb(d.fen)]));
  const series = Array.from({ length: 30 }, (_, i) => {
    const date = beijingDate(startOfBeijingDay(now, i - 29));
    return { date, fen: byDay.get(date) ?? 0 };
  });
  const sumFrom = (start: Date) => series.filter((d) => d.date >= beijingDate(start)).reduce((s, d) => s + d.fen, 0);
  const byStatus = Object.fromEntries(ORDER_STATUSES.map((s) => [s, 0])) as Record<OrderStatus, number>;
  for (const r of statuses) byStatus[r.status] = r.n;
  const created = Object.values(byStatus).reduce((a, b) => a + b, 0);
  return {
    revenueFen: { today: sumFrom(today), last7Days: sumFrom(days7), last30Days: sumFrom(days30) },
    byStatus,
    created,
    paidRate: created ? (byStatus.PAID + byStatus.REFUNDED) / created : null,
    flagged: flagged[0]?.n ?? 0,
    daily: series,
  };
}
