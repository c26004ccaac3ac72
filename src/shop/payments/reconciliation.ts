import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { poolOf, type Db } from '../../db/client.js';
import type { ReconciliationDifferenceKind } from '../../generated/prisma/client.js';
import { startOfBeijingDay } from '../../lib/beijing-time.js';
import { fenFromDb, formatYuanSql } from '../../lib/money.js';
import { InvalidRequestError, NotFoundError } from '../errors.js';
import { storableText } from './audit.js';
import { confirmPayment, type PaymentDeps } from './confirm.js';

/** One line of the provider's daily bill, in the shop's words. */
export interface BillEntry {
  kind: 'payment' | 'refund';
  outTradeNo: string;
  tradeNo: string;
  /** Positive fen (the order amount for payments, the refunded amount for refunds). */
  amountFen: number;
  /** Payment time, or refund time. */
  at: Date;
  /** The refund's request number (refunds). */
  outRequestNo?: string;
  /** Where it came from, for the audit trail (file and line). */
  raw: string;
}

export type TradeBillOutcome =
  /** The rows may be read as they are parsed; a malformed bill throws while they are read, then nothing is stored. */
  | { kind: 'bill'; entries: Iterable<BillEntry> | AsyncIterable<BillEntry> }
  /** No bill for this date (yet: a day's bill is ready the next morning). */
  | { kind: 'not-ready'; reason: string };

/** The provider's daily trade bill (implemented over Alipay's bill API in src/payments/). */
export interface BillSource {
  /** `date` is a Beijing day, yyyy-MM-dd. */
  tradeBill(date: string): Promise<TradeBillOutcome>;
}

export interface ReconcileDeps extends PaymentDeps {
  bills: BillSource;
}

export type Resolution = 'confirmed' | 'flagged';
export type ReconciliationStatus = 'MATCHED' | 'DIFFERENCES';

export interface CountAndFen {
  count: number;
  fen: number;
}

export interface RunSummary {
  id: number;
  date: string;
  billType: string;
  status: ReconciliationStatus;
  startedAt: Date;
  finishedAt: Date;
  bill: { payments: CountAndFen; refunds: CountAndFen };
  shop: { payments: CountAndFen; refunds: CountAndFen };
  matched: { payments: CountAndFen; refunds: CountAndFen };
  differenceCount: number;
  /** Missed payments the bill proved, confirmed like a notification (source BILL). */
  confirmedCount: number;
}

export interface Difference {
  kind: ReconciliationDifferenceKind;
  resolution: Resolution;
  orderId: number | null;
  outTradeNo: string | null;
  tradeNo: string | null;
  outRequestNo: string | null;
  billFen: number | null;
  shopFen: number | null;
  shopStatus: string | null;
  detail: string;
}

export interface RunDetail extends RunSummary {
  differences: (Difference & { id: number })[];
}

export type ReconcileResult = { kind: 'done'; run: RunSummary } | { kind: 'not-ready'; date: string; reason: string };

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TRADE = 'trade';

/** Checks a yyyy-MM-dd Beijing date and returns the instants its day starts and ends. */
export function beijingDayRange(date: string): { start: Date; end: Date } {
  if (!DATE.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`)) || new Date(`${date}T00:00:00Z`).toISOString().slice(0, 10) !== date) {
    throw new InvalidRequestError(`"${date}" is not a date like 2026-11-26`);
  }
  const start = startOfBeijingDay(new Date(`${date}T12:00:00+08:00`));
  return { start, end: startOfBeijingDay(start, 1) };
}

/** One connection in one transaction: the bill's temporary tables live on it. */
interface Session {
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  /** COPY … FROM STDIN of the text chunks (rows in COPY's text format). */
  copyIn(sql: string, chunks: AsyncIterable<string>): Promise<void>;
}

/** Bill rows are written to COPY this many at a time. */
const BATCH = 1_000;
/** Missed payments are confirmed this many at a time. */
const CONFIRM_PAGE = 200;
/** A day's run at 100,000 rows takes seconds; this only stops a run that hangs. */
const RUN_TIMEOUT_MS = 15 * 60_000;

// Differences are listed in this order (then by bill line, order or refund id): what the bill
// says first, then what only the shop has, then the payments confirmed from the bill.
const STAGE = { bill: 1, notInBill: 2, refund: 3, refundNotInBill: 4, notifiedNotInBill: 5, confirmed: 6 } as const;
const seq = (stage: number, n: string) => `(${stage}::bigint * 10000000000 + ${n})`;

const PAID = `('PAID', 'REFUNDED')`;

const DIFF_COLUMNS = 'seq, kind, resolution, order_id, out_trade_no, trade_no, out_request_no, bill_fen, shop_fen, shop_status, detail';

/**
 * Compares one Beijing day's trade bill with the orders and refunds and classifies every
 * difference. The bill is streamed into a temporary table and matched by joins, so neither the
 * bill nor the day's orders are held here. A payment the bill proves and we missed is confirmed
 * through confirmPayment (source BILL, on the order's timeline); everything else is only recorded
 * for an operator. The day's result replaces any earlier run of the same date atomically; a bill
 * that turns out malformed (even on its last line) stores nothing.
 */
export async function reconcileDate(deps: ReconcileDeps, date: string, opts: { now?: () => Date } = {}): Promise<ReconcileResult> {
  const now = opts.now ?? (() => new Date());
  const { start, end } = beijingDayRange(date);
  const startedAt = now();
  const outcome = await deps.bills.tradeBill(date);
  if (outcome.kind === 'not-ready') return { kind: 'not-ready', date, reason: outcome.reason };

  const run = await inTransaction(deps.db, async (s) => {
    await loadBill(s, outcome.entries);
    await classify(s, start, end);
    const confirmedCount = await confirmMissedPayments(deps, s);
    return storeRun(s, { date, startedAt, start, end, confirmedCount, now });
  });
  return { kind: 'done', run };
}

/** Runs `fn` in a transaction on one connection of the client's own pool (COPY and temporary tables need it). */
async function inTransaction<T>(db: Db, fn: (s: Session) => Promise<T>): Promise<T> {
  const pool = poolOf(db);
  if (!pool) throw new Error('reconciliation needs a database client made by createDb (its own connection pool)');
  const client = await pool.connect();
  let failed: unknown;
  try {
    // The day's sorts and hashes (100,000 rows and more) in memory rather than in temporary files.
    await client.query(`BEGIN; SET LOCAL statement_timeout = ${RUN_TIMEOUT_MS}; SET LOCAL work_mem = '64MB'`);
    const result = await fn({
      query: async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => (await client.query<R>(sql, params)).rows,
      copyIn: (sql, chunks) => pipeline(Readable.from(chunks), client.query(copyStreams.from(sql))),
    });
    await client.query('COMMIT');
    return result;
  } catch (err) {
    failed = err;
    throw err;
  } finally {
    // After a failure (a COPY cut short, a malformed bill) the connection is closed, not reused:
    // that rolls the transaction back whatever state the protocol is in.
    client.release(failed === undefined ? undefined : failed instanceof Error ? failed : new Error(String(failed)));
  }
}

async function loadBill(s: Session, entries: Iterable<BillEntry> | AsyncIterable<BillEntry>): Promise<void> {
  await s.query(`CREATE TEMP TABLE recon_bill (
    n integer NOT NULL, kind text NOT NULL, out_trade_no text NOT NULL, trade_no text NOT NULL, out_request_no text,
    amount_fen bigint NOT NULL, at_ms float8 NOT NULL, raw text NOT NULL) ON COMMIT DROP`);
  await s.copyIn('COPY recon_bill (n, kind, out_trade_no, trade_no, out_request_no, amount_fen, at_ms, raw) FROM STDIN', copyChunks(entries));
  await s.query('ANALYZE recon_bill');
}

// COPY's text format: tab-separated, \N for null, backslash escapes.
const copyText = (value: string) => (/[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : value);
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** The entries as COPY text, a batch of rows per chunk; nothing of the bill is kept once written. */
async function* copyChunks(entries: Iterable<BillEntry> | AsyncIterable<BillEntry>): AsyncGenerator<string> {
  let chunk = '';
  let rows = 0;
  let n = 0;
  for await (const e of entries) {
    if (!Number.isSafeInteger(e.amountFen) || !Number.isFinite(e.at.getTime())) throw new Error(`bill entry ${e.raw}: not an amount or a time`);
    const requestNo = e.outRequestNo === undefined ? '\\N' : copyText(storableText(e.outRequestNo, 64));
    chunk += `${++n}\t${e.kind}\t${copyText(storableText(e.outTradeNo, 64))}\t${copyText(storableText(e.tradeNo, 64))}\t${requestNo}\t${e.amountFen}\t${e.at.getTime()}\t${copyText(storableText(e.raw, 200))}\n`;
    if (++rows >= BATCH) {
      yield chunk;
      chunk = '';
      rows = 0;
    }
  }
  if (chunk) yield chunk;
}

/** Fills recon_pay and recon_ref (each bill row with its verdict) and recon_diff (the differences, but the confirmations). */
async function classify(s: Session, start: Date, end: Date): Promise<void> {
  // Payments: the first row of a trade, and the first trade of an order, count; later ones are duplicates.
  await s.query(`CREATE TEMP TABLE recon_pay ON COMMIT DROP AS
    WITH p AS (
      SELECT b.*, row_number() OVER w AS by_trade, first_value(b.raw) OVER w AS first_raw
      FROM recon_bill b WHERE b.kind = 'payment'
      WINDOW w AS (PARTITION BY b.trade_no ORDER BY b.n)
    ), q AS (
      SELECT p.n, row_number() OVER w AS by_order, first_value(p.trade_no) OVER w AS first_trade
      FROM p WHERE p.by_trade = 1
      WINDOW w AS (PARTITION BY p.out_trade_no ORDER BY p.n)
    )
    SELECT p.n, p.out_trade_no, p.trade_no, p.amount_fen, p.at_ms, p.raw, p.first_raw, q.first_trade,
      o.id AS order_id, o.total_fen, o.status::text AS order_status, o.trade_no AS order_trade_no,
      CASE
        WHEN p.by_trade > 1 THEN 'dup_trade'
        WHEN q.by_order > 1 THEN 'dup_order'
        WHEN o.id IS NULL THEN 'unknown'
        WHEN o.total_fen <> p.amount_fen THEN 'amount'
        WHEN o.status::text IN ${PAID} THEN CASE WHEN o.trade_no IS NOT NULL AND o.trade_no <> p.trade_no THEN 'paid_other' ELSE 'match' END
        ELSE 'confirm'
      END AS verdict
    FROM p LEFT JOIN q ON q.n = p.n LEFT JOIN orders o ON o.out_trade_no = p.out_trade_no`);
  await s.query('CREATE INDEX ON recon_pay (out_trade_no)');
  await s.query('ANALYZE recon_pay');

  // Refunds, per request (out_request_no, unique within a trade). A bill refund without a refund
  // row here may still be known: Alipay's refund notifications raise orders.refunded_fen (cumulative,
  // without a row in refunds). The part of refunded_fen no settled refund row accounts for covers
  // such bill rows, oldest first; what it does not cover is not recorded here.
  await s.query(`CREATE TEMP TABLE recon_ref ON COMMIT DROP AS
    WITH r AS (
      SELECT b.*, row_number() OVER (PARTITION BY b.trade_no, coalesce(b.out_request_no, '') ORDER BY b.n) AS copy
      FROM recon_bill b WHERE b.kind = 'refund'
    ), j AS (
      SELECT r.n, r.out_trade_no, r.trade_no, r.out_request_no, r.amount_fen, r.raw, r.copy,
        o.id AS order_id, o.total_fen, o.status::text AS order_status,
        f.id AS refund_id, f.amount_fen AS ours_fen, f.status::text AS ours_status,
        greatest(0, o.refunded_fen - coalesce(s.succeeded, 0)) AS notified_fen
      FROM r
      LEFT JOIN orders o ON o.out_trade_no = r.out_trade_no
      LEFT JOIN refunds f ON f.order_id = o.id AND f.out_request_no = r.out_request_no
      LEFT JOIN LATERAL (SELECT sum(x.amount_fen) AS succeeded FROM refunds x WHERE x.order_id = o.id AND x.status = 'SUCCEEDED') s ON o.id IS NOT NULL
    )
    SELECT j.*, CASE
        WHEN j.copy > 1 THEN 'duplicate'
        WHEN j.order_id IS NULL THEN 'no_order'
        WHEN j.refund_id IS NOT NULL THEN CASE
          WHEN j.ours_status <> 'SUCCEEDED' THEN 'unsettled'
          WHEN j.ours_fen <> j.amount_fen THEN 'amount'
          ELSE 'match' END
        WHEN sum(j.amount_fen) FILTER (WHERE j.copy = 1 AND j.refund_id IS NULL) OVER (PARTITION BY j.order_id ORDER BY j.n) <= j.notified_fen THEN 'notified'
        ELSE 'not_recorded'
      END AS verdict
    FROM j`);

  await s.query(`CREATE TEMP TABLE recon_diff (
    seq bigint PRIMARY KEY, kind text NOT NULL, resolution text NOT NULL, order_id integer, out_trade_no text, trade_no text,
    out_request_no text, bill_fen bigint, shop_fen bigint, shop_status text, detail text NOT NULL) ON COMMIT DROP`);

  await s.query(`INSERT INTO recon_diff (${DIFF_COLUMNS})
    SELECT ${seq(STAGE.bill, 'n')}, CASE verdict WHEN 'unknown' THEN 'UNKNOWN_PAYMENT' WHEN 'amount' THEN 'AMOUNT_MISMATCH' ELSE 'DUPLICATE' END,
      'flagged', order_id, out_trade_no, trade_no, NULL, amount_fen, total_fen, order_status,
      CASE verdict
        WHEN 'dup_trade' THEN 'Trade ' || trade_no || ' appears twice in the bill (' || first_raw || '; ' || raw || ').'
        WHEN 'dup_order' THEN 'Order ' || out_trade_no || ' was paid twice at Alipay: trades ' || first_trade || ' and ' || trade_no || ': refund one of them.'
        WHEN 'unknown' THEN 'Alipay collected ¥' || ${formatYuanSql('amount_fen')} || ' for ' || coalesce(nullif(out_trade_no, ''), '(no order number)') || ', which is not an order here.'
        WHEN 'amount' THEN 'The bill says ¥' || ${formatYuanSql('amount_fen')} || ', the order totals ¥' || ${formatYuanSql('total_fen')} || '.'
        ELSE 'The order is paid here by trade ' || order_trade_no || ', the bill has trade ' || trade_no || ': it may have been paid twice.'
      END
    FROM recon_pay WHERE verdict NOT IN ('match', 'confirm')`);

  await s.query(`INSERT INTO recon_diff (${DIFF_COLUMNS})
    SELECT ${seq(STAGE.notInBill, 'o.id')}, 'NOT_IN_BILL', 'flagged', o.id, o.out_trade_no, o.trade_no, NULL, NULL, o.total_fen, o.status::text,
      'PAID here (trade ' || coalesce(o.trade_no, 'unknown') || ') but the bill has no payment for it.'
    FROM orders o
    WHERE o.paid_at >= $1 AND o.paid_at < $2 AND o.status::text IN ${PAID}
      AND NOT EXISTS (SELECT 1 FROM recon_pay p WHERE p.out_trade_no = o.out_trade_no AND p.verdict NOT IN ('dup_trade', 'dup_order'))`, [start, end]);

  await s.query(`INSERT INTO recon_diff (${DIFF_COLUMNS})
    SELECT ${seq(STAGE.bill, 'n')}, 'DUPLICATE', 'flagged', order_id, out_trade_no, trade_no, out_request_no, amount_fen, total_fen, order_status,
      'Refund ' || coalesce(out_request_no, '') || ' of trade ' || trade_no || ' appears twice in the bill (' || raw || ').'
    FROM recon_ref WHERE verdict = 'duplicate'`);

  await s.query(`INSERT INTO recon_diff (${DIFF_COLUMNS})
    SELECT ${seq(STAGE.refund, 'n')}, CASE verdict WHEN 'amount' THEN 'REFUND_AMOUNT_MISMATCH' ELSE 'REFUND_NOT_RECORDED' END,
      'flagged', order_id, out_trade_no, trade_no, out_request_no, amount_fen,
      CASE verdict WHEN 'no_order' THEN NULL WHEN 'not_recorded' THEN 0 ELSE ours_fen END, order_status,
      CASE verdict
        WHEN 'no_order' THEN 'Alipay refunded ¥' || ${formatYuanSql('amount_fen')} || ' of ' || out_trade_no || ', which is not an order here.'
        WHEN 'amount' THEN 'Refund ' || out_request_no || ': the bill says ¥' || ${formatYuanSql('amount_fen')} || ', the refund here is ¥' || ${formatYuanSql('ours_fen')} || '.'
        WHEN 'unsettled' THEN 'Alipay refunded ¥' || ${formatYuanSql('amount_fen')} || ' as ' || out_request_no || ', which is ' || ours_status || ' here: ask Alipay about it from the order page.'
        ELSE 'Alipay refunded ¥' || ${formatYuanSql('amount_fen')} || ' as ' || coalesce(out_request_no, '(no request number)') || ': no refund here has that number'
          || CASE WHEN notified_fen > 0 THEN ', and what notifications reported refunded (¥' || ${formatYuanSql('notified_fen')} || ' beyond the refunds here) does not cover it.' ELSE '.' END
      END
    FROM recon_ref WHERE verdict IN ('no_order', 'amount', 'unsettled', 'not_recorded')`);

  await s.query(`INSERT INTO recon_diff (${DIFF_COLUMNS})
    SELECT ${seq(STAGE.refundNotInBill, 'f.id')}, 'REFUND_NOT_IN_BILL', 'flagged', o.id, o.out_trade_no, f.trade_no, f.out_request_no, NULL, f.amount_fen, o.status::text,
      'Refunded ¥' || ${formatYuanSql('f.amount_fen')} || ' here as ' || f.out_request_no || ' that day, but the bill has no such refund.'
    FROM refunds f JOIN orders o ON o.id = f.order_id
    WHERE f.status = 'SUCCEEDED' AND f.created_at >= $1 AND f.created_at < $2
      AND NOT EXISTS (SELECT 1 FROM recon_ref x WHERE x.refund_id = f.id)`, [start, end]);

  // Refunded here by a notification alone (no refund row made that day), and the bill has no refund
  // of the order without a row here: nothing at Alipay that day matches it.
  await s.query(`INSERT INTO recon_diff (${DIFF_COLUMNS})
    SELECT ${seq(STAGE.notifiedNotInBill, 'o.id')}, 'REFUND_NOT_IN_BILL', 'flagged', o.id, o.out_trade_no, o.trade_no, NULL, NULL, n.fen, o.status::text,
      'Refunded ¥' || ${formatYuanSql('n.fen')} || ' here that day (reported by Alipay''s notification, no refund request here), but the bill has no refund for it.'
    FROM ${NOTIFIED_REFUNDS} n JOIN orders o ON o.id = n.order_id
    WHERE n.fen > 0 AND NOT EXISTS (SELECT 1 FROM recon_ref x WHERE x.order_id = o.id AND x.refund_id IS NULL)`, [start, end]);
}

/** Orders refunded that day through a notification only: the refunded amount no refund row accounts for, when no refund row of the order was made that day. */
const NOTIFIED_REFUNDS = `(
  SELECT o.id AS order_id, o.refunded_fen - coalesce((SELECT sum(x.amount_fen) FROM refunds x WHERE x.order_id = o.id AND x.status = 'SUCCEEDED'), 0) AS fen
  FROM orders o
  WHERE o.refunded_at >= $1 AND o.refunded_at < $2 AND o.refunded_fen > 0
    AND NOT EXISTS (SELECT 1 FROM refunds y WHERE y.order_id = o.id AND y.created_at >= $1 AND y.created_at < $2)
)`;

interface ConfirmRow {
  n: number;
  order_id: number;
  out_trade_no: string;
  trade_no: string;
  amount_fen: string;
  at_ms: number;
  raw: string;
  total_fen: number;
  order_status: string;
}

/** Confirms the payments the bill proves and the shop missed, a page at a time, in bill order. */
async function confirmMissedPayments(deps: ReconcileDeps, s: Session): Promise<number> {
  let confirmed = 0;
  for (let after = 0; ; ) {
    const page = await s.query<ConfirmRow>(`SELECT n, order_id, out_trade_no, trade_no, amount_fen, at_ms, raw, total_fen, order_status
       FROM recon_pay WHERE verdict = 'confirm' AND n > $1 ORDER BY n LIMIT ${CONFIRM_PAGE}`, [after]);
    if (page.length === 0) return confirmed;
    const rows: { n: number; resolution: Resolution; detail: string }[] = [];
    for (const p of page) {
      after = p.n;
      // On the pool's other connections: the order's own transaction, as for a notification.
      const result = await confirmPayment(deps, {
        source: 'BILL',
        outTradeNo: p.out_trade_no,
        tradeNo: p.trade_no,
        amountFen: fenFromDb(p.amount_fen),
        state: 'paid',
        paidAt: new Date(p.at_ms),
        tradeStatus: 'TRADE_SUCCESS',
        raw: p.raw,
      });
      if (result.outcome === 'applied') {
        confirmed++;
        const note = result.attention ? ` ${result.attention}` : '';
        rows.push({ n: p.n, resolution: 'confirmed', detail: storableText(`Paid at Alipay but ${p.order_status} here: confirmed from the bill.${note}`, 500) });
      } else {
        const why = result.outcome === 'rejected' ? result.reason : `the order is now ${result.status}`;
        rows.push({ n: p.n, resolution: 'flagged', detail: storableText(`Paid at Alipay but ${p.order_status} here; not confirmed: ${why}.`, 500) });
      }
    }
    await s.query(`INSERT INTO recon_diff (${DIFF_COLUMNS})
      SELECT ${seq(STAGE.confirmed, 'p.n')}, 'PAID_NOT_RECORDED', x.resolution, p.order_id, p.out_trade_no, p.trade_no, NULL, p.amount_fen, p.total_fen, p.order_status, x.detail
      FROM unnest($1::int[], $2::text[], $3::text[]) AS x(n, resolution, detail) JOIN recon_pay p ON p.n = x.n`, [rows.map((r) => r.n), rows.map((r) => r.resolution), rows.map((r) => r.detail)]);
  }
}

interface TotalsRow {
  bill_payment_count: number;
  bill_payment_fen: string;
  bill_refund_count: number;
  bill_refund_fen: string;
  shop_payment_count: number;
  shop_payment_fen: string;
  shop_refund_count: number;
  shop_refund_fen: string;
  matched_payment_count: number;
  matched_payment_fen: string;
  matched_refund_count: number;
  matched_refund_fen: string;
  difference_count: number;
}

async function storeRun(
  s: Session,
  r: { date: string; startedAt: Date; start: Date; end: Date; confirmedCount: number; now: () => Date },
): Promise<RunSummary> {
  const [t] = await s.query<TotalsRow>(`SELECT
      (SELECT count(*) FROM recon_bill WHERE kind = 'payment')::int AS bill_payment_count,
      (SELECT coalesce(sum(amount_fen), 0) FROM recon_bill WHERE kind = 'payment')::bigint AS bill_payment_fen,
      (SELECT count(*) FROM recon_bill WHERE kind = 'refund')::int AS bill_refund_count,
      (SELECT coalesce(sum(amount_fen), 0) FROM recon_bill WHERE kind = 'refund')::bigint AS bill_refund_fen,
      s.count::int AS shop_payment_count, s.fen::bigint AS shop_payment_fen,
      (sr.count + nr.count)::int AS shop_refund_count, (sr.fen + nr.fen)::bigint AS shop_refund_fen,
      (SELECT count(*) FROM recon_pay WHERE verdict = 'match')::int AS matched_payment_count,
      (SELECT coalesce(sum(amount_fen), 0) FROM recon_pay WHERE verdict = 'match')::bigint AS matched_payment_fen,
      (SELECT count(*) FROM recon_ref WHERE verdict IN ('match', 'notified'))::int AS matched_refund_count,
      (SELECT coalesce(sum(amount_fen), 0) FROM recon_ref WHERE verdict IN ('match', 'notified'))::bigint AS matched_refund_fen,
      (SELECT count(*) FROM recon_diff)::int AS difference_count
    FROM (SELECT count(*), coalesce(sum(total_fen), 0) AS fen FROM orders WHERE paid_at >= $1 AND paid_at < $2 AND status::text IN ${PAID}) s,
      (SELECT count(*), coalesce(sum(amount_fen), 0) AS fen FROM refunds WHERE status = 'SUCCEEDED' AND created_at >= $1 AND created_at < $2) sr,
      (SELECT count(*), coalesce(sum(nr_base.fen), 0) AS fen FROM ${NOTIFIED_REFUNDS} nr_base WHERE nr_base.fen > 0) nr`, [r.start, r.end]);
  const pair = (count: number, fen: string) => ({ count, fen: fenFromDb(fen) });
  const bill = { payments: pair(t!.bill_payment_count, t!.bill_payment_fen), refunds: pair(t!.bill_refund_count, t!.bill_refund_fen) };
  const shop = { payments: pair(t!.shop_payment_count, t!.shop_payment_fen), refunds: pair(t!.shop_refund_count, t!.shop_refund_fen) };
  const matched = { payments: pair(t!.matched_payment_count, t!.matched_payment_fen), refunds: pair(t!.matched_refund_count, t!.matched_refund_fen) };
  const differenceCount = t!.difference_count;
  const status: ReconciliationStatus = differenceCount === 0 ? 'MATCHED' : 'DIFFERENCES';
  const finishedAt = r.now();
  const lockKey = `reconciliation:${r.date}:${TRADE}`;
  // After the date's lock, so re-runs of a date (even concurrent ones) replace each other whole.
  // A lost commit costs nothing but a re-run.
  await s.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
  await s.query('SET LOCAL synchronous_commit = off');
  const rows = await s.query<{ id: number }>(
    `
    INSERT INTO reconciliation_runs (bill_date, bill_type, status, started_at, finished_at,
      bill_payment_count, bill_payment_fen, bill_refund_count, bill_refund_fen,
      shop_payment_count, shop_payment_fen, shop_refund_count, shop_refund_fen,
      matched_payment_count, matched_payment_fen, matched_refund_count, matched_refund_fen,
      difference_count, confirmed_count)
    VALUES ($1, $2, $3::"ReconciliationStatus", $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
    ON CONFLICT (bill_date, bill_type) DO UPDATE SET
      status = EXCLUDED.status, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
      bill_payment_count = EXCLUDED.bill_payment_count, bill_payment_fen = EXCLUDED.bill_payment_fen,
      bill_refund_count = EXCLUDED.bill_refund_count, bill_refund_fen = EXCLUDED.bill_refund_fen,
      shop_payment_count = EXCLUDED.shop_payment_count, shop_payment_fen = EXCLUDED.shop_payment_fen,
      shop_refund_count = EXCLUDED.shop_refund_count, shop_refund_fen = EXCLUDED.shop_refund_fen,
      matched_payment_count = EXCLUDED.matched_payment_count, matched_payment_fen = EXCLUDED.matched_payment_fen,
      matched_refund_count = EXCLUDED.matched_refund_count, matched_refund_fen = EXCLUDED.matched_refund_fen,
      difference_count = EXCLUDED.difference_count, confirmed_count = EXCLUDED.confirmed_count
    RETURNING id`,
    [
      r.date, TRADE, status, r.startedAt, finishedAt,
      bill.payments.count, bill.payments.fen, bill.refunds.count, bill.refunds.fen,
      shop.payments.count, shop.payments.fen, shop.refunds.count, shop.refunds.fen,
      matched.payments.count, matched.payments.fen, matched.refunds.count, matched.refunds.fen,
      differenceCount, r.confirmedCount,
    ],
  );
  const id = rows[0]!.id;
  await s.query('DELETE FROM reconciliation_differences WHERE run_id = $1', [id]);
  await s.query(`INSERT INTO reconciliation_differences (run_id, kind, resolution, order_id, out_trade_no, trade_no, out_request_no, bill_fen, shop_fen, shop_status, detail)
    SELECT $1, kind::"ReconciliationDifferenceKind", resolution, order_id, left(out_trade_no, 64), left(trade_no, 64), left(out_request_no, 64),
      bill_fen, shop_fen, shop_status, left(detail, 500)
    FROM recon_diff ORDER BY seq`, [id]);
  return {
    id,
    date: r.date,
    billType: TRADE,
    status,
    startedAt: r.startedAt,
    finishedAt,
    bill,
    shop,
    matched,
    differenceCount,
    confirmedCount: r.confirmedCount,
  };
}

type RunRow = Awaited<ReturnType<Db['reconciliationRun']['findFirstOrThrow']>>;

function toSummary(row: RunRow): RunSummary {
  const pair = (count: number, fen: bigint) => ({ count, fen: fenFromDb(fen) });
  return {
    id: row.id,
    date: row.billDate,
    billType: row.billType,
    status: row.status,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    bill: { payments: pair(row.billPaymentCount, row.billPaymentFen), refunds: pair(row.billRefundCount, row.billRefundFen) },
    shop: { payments: pair(row.shopPaymentCount, row.shopPaymentFen), refunds: pair(row.shopRefundCount, row.shopRefundFen) },
    matched: { payments: pair(row.matchedPaymentCount, row.matchedPaymentFen), refunds: pair(row.matchedRefundCount, row.matchedRefundFen) },
    differenceCount: row.differenceCount,
    confirmedCount: row.confirmedCount,
  };
}

/** Runs newest date first, `limit` at a time; pass the last date seen as `before` for the next page. */
export async function listReconciliationRuns(db: Db, opts: { limit?: number; before?: string } = {}): Promise<RunSummary[]> {
  const limit = Math.min(Math.max(opts.limit ?? 50, 1), 200);
  if (opts.before !== undefined) beijingDayRange(opts.before);
  const rows = await db.reconciliationRun.findMany({
    where: { billType: TRADE, ...(opts.before ? { billDate: { lt: opts.before } } : {}) },
    orderBy: { billDate: 'desc' },
    take: limit,
  });
  return rows.map(toSummary);
}

/** One date's run with every difference (order id and number included); NotFoundError when the date was never reconciled. */
export async function getReconciliationRun(db: Db, date: string): Promise<RunDetail> {
  beijingDayRange(date);
  const row = await db.reconciliationRun.findUnique({
    where: { billDate_billType: { billDate: date, billType: TRADE } },
    include: { differences: { orderBy: { id: 'asc' } } },
  });
  if (!row) throw new NotFoundError(`${date} has not been reconciled`);
  return {
    ...toSummary(row),
    differences: row.differences.map((d) => ({
      id: d.id,
      kind: d.kind,
      resolution: d.resolution as Resolution,
      orderId: d.orderId,
      outTradeNo: d.outTradeNo,
      tradeNo: d.tradeNo,
      outRequestNo: d.outRequestNo,
      billFen: d.billFen === null ? null : fenFromDb(d.billFen),
      shopFen: d.shopFen === null ? null : fenFromDb(d.shopFen),
      shopStatus: d.shopStatus,
      detail: d.detail,
    })),
  };
}
