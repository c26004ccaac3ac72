import type { Db } from '../../db/client.js';
import { queryRows } from '../../db/client.js';
import type { ReconciliationDifferenceKind } from '../../generated/prisma/client.js';
import { startOfBeijingDay } from '../../lib/beijing-time.js';
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
  | { kind: 'bill'; entries: BillEntry[] }
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

interface OrderRow {
  id: number;
  out_trade_no: string;
  status: string;
  total_fen: number;
  trade_no: string | null;
  /** epoch ms: 100,000 of these rows are held during a run, Date objects would double the cost */
  paid_at: number | null;
  refunded_fen: number;
  refunded_at: number | null;
}

const ORDER_COLUMNS = `id, out_trade_no, status::text AS status, total_fen, trade_no, (extract(epoch FROM paid_at) * 1000)::float8 AS paid_at,
  refunded_fen, (extract(epoch FROM refunded_at) * 1000)::float8 AS refunded_at`;
const isPaid = (status: string) => status === 'PAID' || status === 'REFUNDED';
const inRange = (at: number | null, start: Date, end: Date) => at !== null && at >= start.getTime() && at < end.getTime();
const yuan = (fen: number) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;

/** The day's orders: paid or refunded that day, plus every order the bill names. */
async function loadOrders(db: Db, start: Date, end: Date, entries: BillEntry[]): Promise<Map<string, OrderRow>> {
  const orders = new Map<string, OrderRow>();
  const rows = await queryRows<OrderRow>(
    db,
    `SELECT ${ORDER_COLUMNS} FROM orders WHERE (paid_at >= $1 AND paid_at < $2) OR (refunded_at >= $1 AND refunded_at < $2)`,
    [start, end],
  );
  for (const row of rows) orders.set(row.out_trade_no, row);
  const missing = [...new Set(entries.map((e) => e.outTradeNo).filter((no) => no !== '' && !orders.has(no)))];
  for (let i = 0; i < missing.length; i += 10_000) {
    const chunk = missing.slice(i, i + 10_000);
    for (const row of await queryRows<OrderRow>(db, `SELECT ${ORDER_COLUMNS} FROM orders WHERE out_trade_no = ANY($1::varchar[])`, [chunk])) {
      orders.set(row.out_trade_no, row);
    }
  }
  return orders;
}

function difference(kind: ReconciliationDifferenceKind, detail: string, fields: Partial<Omit<Difference, 'kind' | 'detail'>> = {}): Difference {
  return {
    kind,
    resolution: 'flagged',
    orderId: null,
    outTradeNo: null,
    tradeNo: null,
    outRequestNo: null,
    billFen: null,
    shopFen: null,
    shopStatus: null,
    ...fields,
    detail: storableText(detail, 500),
  };
}

const orderFields = (o: OrderRow) => ({ orderId: o.id, shopFen: o.total_fen, shopStatus: o.status });

/**
 * Compares one Beijing day's trade bill with the orders and classifies every difference. A payment
 * the bill proves and we missed is confirmed through confirmPayment (source BILL, on the order's
 * timeline); everything else is only recorded for an operator. The day's result replaces any
 * earlier run of the same date atomically.
 */
export async function reconcileDate(deps: ReconcileDeps, date: string, opts: { now?: () => Date } = {}): Promise<ReconcileResult> {
  const now = opts.now ?? (() => new Date());
  const { start, end } = beijingDayRange(date);
  const startedAt = now();
  const outcome = await deps.bills.tradeBill(date);
  if (outcome.kind === 'not-ready') return { kind: 'not-ready', date, reason: outcome.reason };
  const entries = outcome.entries;
  const orders = await loadOrders(deps.db, start, end, entries);

  const differences: Difference[] = [];
  const totals = {
    bill: { payments: { count: 0, fen: 0 }, refunds: { count: 0, fen: 0 } },
    shop: { payments: { count: 0, fen: 0 }, refunds: { count: 0, fen: 0 } },
    matched: { payments: { count: 0, fen: 0 }, refunds: { count: 0, fen: 0 } },
  };
  for (const o of orders.values()) {
    if (isPaid(o.status) && inRange(o.paid_at, start, end)) {
      totals.shop.payments.count++;
      totals.shop.payments.fen += o.total_fen;
    }
    if (o.refunded_fen > 0 && inRange(o.refunded_at, start, end)) {
      totals.shop.refunds.count++;
      totals.shop.refunds.fen += o.refunded_fen;
    }
  }

  const paymentByTradeNo = new Map<string, BillEntry>();
  const paymentByOrder = new Map<string, BillEntry>();
  const refundKeys = new Set<string>();
  const refundsByOrder = new Map<string, BillEntry[]>();
  const toConfirm: { entry: BillEntry; order: OrderRow }[] = [];

  for (const e of entries) {
    const bucket = e.kind === 'payment' ? totals.bill.payments : totals.bill.refunds;
    bucket.count++;
    bucket.fen += e.amountFen;
    if (e.kind === 'refund') {
      const key = `${e.tradeNo}\u0000${e.outRequestNo ?? ''}`;
      if (refundKeys.has(key)) {
        const o = orders.get(e.outTradeNo);
        differences.push(
          difference('DUPLICATE', `Refund ${e.outRequestNo ?? ''} of trade ${e.tradeNo} appears twice in the bill (${e.raw}).`, {
            ...(o ? orderFields(o) : {}),
            outTradeNo: e.outTradeNo,
            tradeNo: e.tradeNo,
            outRequestNo: e.outRequestNo ?? null,
            billFen: e.amountFen,
          }),
        );
        continue;
      }
      refundKeys.add(key);
      const list = refundsByOrder.get(e.outTradeNo) ?? [];
      list.push(e);
      refundsByOrder.set(e.outTradeNo, list);
      continue;
    }

    const o = orders.get(e.outTradeNo);
    const base = { ...(o ? orderFields(o) : {}), outTradeNo: e.outTradeNo, tradeNo: e.tradeNo, billFen: e.amountFen };
    const seenTrade = paymentByTradeNo.get(e.tradeNo);
    const seenOrder = paymentByOrder.get(e.outTradeNo);
    if (seenTrade || seenOrder) {
      const detail = seenTrade
        ? `Trade ${e.tradeNo} appears twice in the bill (${seenTrade.raw}; ${e.raw}).`
        : `Order ${e.outTradeNo} was paid twice at Alipay: trades ${seenOrder!.tradeNo} and ${e.tradeNo}: refund one of them.`;
      differences.push(difference('DUPLICATE', detail, base));
      continue;
    }
    paymentByTradeNo.set(e.tradeNo, e);
    paymentByOrder.set(e.outTradeNo, e);

    if (!o) {
      differences.push(difference('UNKNOWN_PAYMENT', `Alipay collected ¥${yuan(e.amountFen)} for ${e.outTradeNo || '(no order number)'}, which is not an order here.`, base));
    } else if (o.total_fen !== e.amountFen) {
      differences.push(difference('AMOUNT_MISMATCH', `The bill says ¥${yuan(e.amountFen)}, the order totals ¥${yuan(o.total_fen)}.`, base));
    } else if (isPaid(o.status)) {
      if (o.trade_no && o.trade_no !== e.tradeNo) {
        differences.push(difference('DUPLICATE', `The order is paid here by trade ${o.trade_no}, the bill has trade ${e.tradeNo}: it may have been paid twice.`, base));
      } else {
        totals.matched.payments.count++;
        totals.matched.payments.fen += e.amountFen;
      }
    } else {
      toConfirm.push({ entry: e, order: o });
    }
  }

  for (const o of orders.values()) {
    if (isPaid(o.status) && inRange(o.paid_at, start, end) && !paymentByOrder.has(o.out_trade_no)) {
      differences.push(
        difference('NOT_IN_BILL', `PAID here (trade ${o.trade_no ?? 'unknown'}) but the bill has no payment for it.`, {
          ...orderFields(o),
          outTradeNo: o.out_trade_no,
          tradeNo: o.trade_no,
        }),
      );
    }
  }

  for (const [outTradeNo, list] of refundsByOrder) {
    const o = orders.get(outTradeNo);
    const sum = list.reduce((s, e) => s + e.amountFen, 0);
    const first = list[0]!;
    const base = {
      outTradeNo,
      tradeNo: first.tradeNo,
      outRequestNo: list.map((e) => e.outRequestNo ?? '').join(',').slice(0, 64) || null,
      billFen: sum,
    };
    if (!o) {
      differences.push(difference('REFUND_NOT_RECORDED', `Alipay refunded ¥${yuan(sum)} of ${outTradeNo}, which is not an order here.`, base));
    } else if (o.refunded_fen < sum) {
      differences.push(
        difference('REFUND_NOT_RECORDED', `Alipay refunded ¥${yuan(sum)} that day; the order records ¥${yuan(o.refunded_fen)} refunded in all.`, {
          ...base,
          orderId: o.id,
          shopFen: o.refunded_fen,
          shopStatus: o.status,
        }),
      );
    } else {
      totals.matched.refunds.count += list.length;
      totals.matched.refunds.fen += sum;
    }
  }
  for (const o of orders.values()) {
    if (o.refunded_fen > 0 && inRange(o.refunded_at, start, end) && !refundsByOrder.has(o.out_trade_no)) {
      differences.push(
        difference('REFUND_NOT_IN_BILL', `Refunded ¥${yuan(o.refunded_fen)} here that day, but the bill has no refund for it.`, {
          orderId: o.id,
          outTradeNo: o.out_trade_no,
          tradeNo: o.trade_no,
          shopFen: o.refunded_fen,
          shopStatus: o.status,
        }),
      );
    }
  }

  let confirmedCount = 0;
  for (const { entry, order } of toConfirm) {
    const result = await confirmPayment(deps, {
      source: 'BILL',
      outTradeNo: entry.outTradeNo,
      tradeNo: entry.tradeNo,
      amountFen: entry.amountFen,
      state: 'paid',
      paidAt: entry.at,
      tradeStatus: 'TRADE_SUCCESS',
      raw: entry.raw,
    });
    const base = { ...orderFields(order), outTradeNo: entry.outTradeNo, tradeNo: entry.tradeNo, billFen: entry.amountFen };
    if (result.outcome === 'applied') {
      confirmedCount++;
      const note = result.attention ? ` ${result.attention}` : '';
      differences.push({
        ...difference('PAID_NOT_RECORDED', `Paid at Alipay but ${order.status} here: confirmed from the bill.${note}`, base),
        resolution: 'confirmed',
      });
    } else {
      const why = result.outcome === 'rejected' ? result.reason : `the order is now ${result.status}`;
      differences.push(difference('PAID_NOT_RECORDED', `Paid at Alipay but ${order.status} here; not confirmed: ${why}.`, base));
    }
  }

  const run = await storeRun(deps.db, {
    date,
    startedAt,
    finishedAt: now(),
    totals,
    differences,
    confirmedCount,
  });
  return { kind: 'done', run };
}

async function storeRun(
  db: Db,
  r: { date: string; startedAt: Date; finishedAt: Date; totals: Pick<RunSummary, 'bill' | 'shop' | 'matched'>; differences: Difference[]; confirmedCount: number },
): Promise<RunSummary> {
  const { bill, shop, matched } = r.totals;
  const status: ReconciliationStatus = r.differences.length === 0 ? 'MATCHED' : 'DIFFERENCES';
  const d = r.differences;
  const col = <K extends keyof Difference>(k: K) => d.map((x) => x[k]);
  const lockKey = `reconciliation:${r.date}:${TRADE}`;
  // One statement writes the run and swaps its differences, after the date's lock, so re-runs of a
  // date (even concurrent ones) replace each other whole. A lost commit costs nothing but a re-run.
  const [, , rows] = await db.$transaction([
    db.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${lockKey}))`,
    db.$executeRaw`SET LOCAL synchronous_commit = off`,
    db.$queryRaw<{ id: number }[]>`
      WITH run AS (
        INSERT INTO reconciliation_runs (bill_date, bill_type, status, started_at, finished_at,
          bill_payment_count, bill_payment_fen, bill_refund_count, bill_refund_fen,
          shop_payment_count, shop_payment_fen, shop_refund_count, shop_refund_fen,
          matched_payment_count, matched_payment_fen, matched_refund_count, matched_refund_fen,
          difference_count, confirmed_count)
        VALUES (${r.date}, ${TRADE}, ${status}::"ReconciliationStatus", ${r.startedAt}, ${r.finishedAt},
          ${bill.payments.count}, ${bill.payments.fen}, ${bill.refunds.count}, ${bill.refunds.fen},
          ${shop.payments.count}, ${shop.payments.fen}, ${shop.refunds.count}, ${shop.refunds.fen},
          ${matched.payments.count}, ${matched.payments.fen}, ${matched.refunds.count}, ${matched.refunds.fen},
          ${d.length}, ${r.confirmedCount})
        ON CONFLICT (bill_date, bill_type) DO UPDATE SET
          status = EXCLUDED.status, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
          bill_payment_count = EXCLUDED.bill_payment_count, bill_payment_fen = EXCLUDED.bill_payment_fen,
          bill_refund_count = EXCLUDED.bill_refund_count, bill_refund_fen = EXCLUDED.bill_refund_fen,
          shop_payment_count = EXCLUDED.shop_payment_count, shop_payment_fen = EXCLUDED.shop_payment_fen,
          shop_refund_count = EXCLUDED.shop_refund_count, shop_refund_fen = EXCLUDED.shop_refund_fen,
          matched_payment_count = EXCLUDED.matched_payment_count, matched_payment_fen = EXCLUDED.matched_payment_fen,
          matched_refund_count = EXCLUDED.matched_refund_count, matched_refund_fen = EXCLUDED.matched_refund_fen,
          difference_count = EXCLUDED.difference_count, confirmed_count = EXCLUDED.confirmed_count
        RETURNING id
      ),
      replaced AS (DELETE FROM reconciliation_differences old USING run WHERE old.run_id = run.id),
      added AS (
        INSERT INTO reconciliation_differences (run_id, kind, resolution, order_id, out_trade_no, trade_no, out_request_no, bill_fen, shop_fen, shop_status, detail)
        SELECT run.id, x.kind::"ReconciliationDifferenceKind", x.resolution, x.order_id, x.out_trade_no, x.trade_no, x.out_request_no, x.bill_fen, x.shop_fen, x.shop_status, x.detail
        FROM run, unnest(${col('kind')}::text[], ${col('resolution')}::text[], ${col('orderId')}::int[], ${col('outTradeNo')}::text[],
          ${col('tradeNo')}::text[], ${col('outRequestNo')}::text[], ${col('billFen')}::bigint[], ${col('shopFen')}::bigint[],
          ${col('shopStatus')}::text[], ${col('detail')}::text[])
          WITH ORDINALITY AS x(kind, resolution, order_id, out_trade_no, trade_no, out_request_no, bill_fen, shop_fen, shop_status, detail, n)
        ORDER BY x.n
      )
      SELECT id FROM run`,
  ]);
  const id = rows[0]!.id;
  return {
    id,
    date: r.date,
    billType: TRADE,
    status,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    bill,
    shop,
    matched,
    differenceCount: r.differences.length,
    confirmedCount: r.confirmedCount,
  };
}

type RunRow = Awaited<ReturnType<Db['reconciliationRun']['findFirstOrThrow']>>;

function toSummary(row: RunRow): RunSummary {
  const pair = (count: number, fen: bigint) => ({ count, fen: Number(fen) });
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
      billFen: d.billFen === null ? null : Number(d.billFen),
      shopFen: d.shopFen === null ? null : Number(d.shopFen),
      shopStatus: d.shopStatus,
      detail: d.detail,
    })),
  };
}
