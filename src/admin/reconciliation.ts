import { Router, type Request } from 'express';
import { beijingDate } from '../lib/beijing-time.js';
import { formatYuan } from '../lib/money.js';
import { wantsJson } from '../lib/wants-json.js';
import { ConflictError, InvalidRequestError } from '../shop/errors.js';
import { getReconciliationRun, listReconciliationRuns, reconcileDate, type RunSummary } from '../shop/payments/reconciliation.js';
import { paymentDeps, type AdminDeps } from './deps.js';
import { ADMIN_BASE, operatorOf, requireAdmin } from './session.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function dateParam(value: unknown, what: string): string {
  if (typeof value !== 'string' || !DATE.test(value)) throw new InvalidRequestError(`${what} must be a date like 2026-11-26.`);
  return value;
}

function summaryJson(run: RunSummary) {
  const money = (c: { count: number; fen: number }) => ({ count: c.count, amount: formatYuan(c.fen) });
  return {
    date: run.date,
    status: run.status,
    finishedAt: run.finishedAt.toISOString(),
    bill: { payments: money(run.bill.payments), refunds: money(run.bill.refunds) },
    shop: { payments: money(run.shop.payments), refunds: money(run.shop.refunds) },
    matched: { payments: money(run.matched.payments), refunds: money(run.matched.refunds) },
    differences: run.differenceCount,
    confirmed: run.confirmedCount,
  };
}

/** Reconciliation with Alipay's trade bill: the runs by date, one run's differences, re-running a date. */
export function reconciliationPages(deps: AdminDeps): Router {
  const router = Router();

  router.get('/reconciliation', async (req, res) => {
    const before = req.query.before === undefined ? undefined : dateParam(req.query.before, '"before"');
    const runs = await listReconciliationRuns(deps.db, { limit: 50, before });
    const nextBefore = runs.length === 50 ? runs.at(-1)!.date : null;
    if (wantsJson(req)) return res.json({ runs: runs.map(summaryJson), nextCursor: nextBefore });
    const yesterday = beijingDate(new Date(Date.now() - 24 * 60 * 60 * 1000));
    res.render('admin/reconciliation', { title: 'Reconciliation', runs, nextBefore, yesterday, canAct: operatorOf(res).role === 'admin' });
  });

  router.get('/reconciliation/:date', async (req, res) => {
    const run = await getReconciliationRun(deps.db, dateParam(req.params.date, 'The date'));
    if (wantsJson(req)) {
      return res.json({
        ...summaryJson(run),
        differences: run.differences.map((d) => ({
          kind: d.kind,
          resolution: d.resolution,
          outTradeNo: d.outTradeNo,
          tradeNo: d.tradeNo,
          outRequestNo: d.outRequestNo,
          billAmount: d.billFen === null ? null : formatYuan(Math.abs(d.billFen)),
          shopAmount: d.shopFen === null ? null : formatYuan(Math.abs(d.shopFen)),
          shopStatus: d.shopStatus,
          detail: d.detail,
        })),
      });
    }
    res.render('admin/reconciliation-run', { title: `Reconciliation ${run.date}`, run, canAct: operatorOf(res).role === 'admin' });
  });

  router.post('/reconciliation/run', requireAdmin, async (req: Request, res) => {
    const date = dateParam(((req.body ?? {}) as Record<string, unknown>).date, 'The date');
    const result = await reconcileDate({ ...paymentDeps(deps), bills: deps.payments }, date);
    if (result.kind === 'not-ready') throw new ConflictError(`Alipay has no bill for ${date} yet (${result.reason}). A day's bill is ready the next morning; try again later.`);
    req.log?.info({ date, status: result.run.status, operator: operatorOf(res).email }, 'reconciliation re-run from the console');
    if (wantsJson(req)) return res.json(summaryJson(result.run));
    res.redirect(303, `${ADMIN_BASE}/reconciliation/${date}`);
  });

  return router;
}
