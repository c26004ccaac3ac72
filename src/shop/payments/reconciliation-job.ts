import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { errorText } from '../../lib/error-text.js';
import { beijingDate, beijingWallClock, startOfBeijingDay } from '../../lib/beijing-time.js';
import { reconcileDate, type ReconcileDeps, type RunSummary } from './reconciliation.js';

const INSTANCE = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`.slice(0, 100);

export interface DailyReconciliationOptions {
  now?: () => Date;
  /** Who claims the run (logged, stored); default host:pid:random. */
  instanceId?: string;
  /** Not before this Beijing time of day; default 09:30 (a day's bill is ready before ~09:00). */
  notBeforeMinutes?: number;
  /** When the bill is not ready yet; default 30 min. */
  retryMs?: number;
  /** After an error (gateway down, malformed bill); default 15 min. */
  errorRetryMs?: number;
  /** A claim older than this is taken over (its instance died); default 15 min. */
  claimMs?: number;
}

export type DailyReconciliationResult =
  | { ran: false; reason: 'too-early' | 'claimed-or-done' }
  | { ran: true; date: string; outcome: 'not-ready' }
  | { ran: true; date: string; outcome: 'done'; status: RunSummary['status']; differences: number; confirmed: number };

/**
 * Yesterday's (Beijing) reconciliation, once a day after 09:30 Beijing time. A row per date is
 * claimed with a conditional update, so of several instances one runs it; a bill that is not
 * ready yet is tried again later, until the day is over and the next date takes its place.
 */
export async function runDailyReconciliation(deps: ReconcileDeps, opts: DailyReconciliationOptions = {}): Promise<DailyReconciliationResult> {
  const now = (opts.now ?? (() => new Date()))();
  const clock = beijingWallClock(now);
  if (clock.getUTCHours() * 60 + clock.getUTCMinutes() < (opts.notBeforeMinutes ?? 9 * 60 + 30)) return { ran: false, reason: 'too-early' };
  const date = beijingDate(startOfBeijingDay(now, -1));
  const instance = opts.instanceId ?? INSTANCE;
  const claimUntil = new Date(now.getTime() + (opts.claimMs ?? 15 * 60_000));
  const { db } = deps;

  await db.$executeRaw`
    INSERT INTO reconciliation_jobs (bill_date, bill_type, next_attempt_at) VALUES (${date}, 'trade', ${now})
    ON CONFLICT DO NOTHING`;
  const claimed = await db.$executeRaw`
    UPDATE reconciliation_jobs
    SET claimed_by = ${instance}, claimed_until = ${claimUntil}, attempts = attempts + 1
    WHERE bill_date = ${date} AND bill_type = 'trade' AND done_at IS NULL AND next_attempt_at <= ${now}
      AND (claimed_until IS NULL OR claimed_until < ${now})`;
  if (claimed !== 1) return { ran: false, reason: 'claimed-or-done' };

  const release = (data: { nextAttemptAt?: Date; doneAt?: Date; lastError: string | null }) =>
    db.reconciliationJob.updateMany({
      where: { billDate: date, billType: 'trade', claimedBy: instance },
      data: { claimedUntil: null, lastError: data.lastError?.slice(0, 500) ?? null, ...(data.nextAttemptAt ? { nextAttemptAt: data.nextAttemptAt } : {}), ...(data.doneAt ? { doneAt: data.doneAt } : {}) },
    });
  try {
    const result = await reconcileDate(deps, date, opts.now ? { now: opts.now } : {});
    if (result.kind === 'not-ready') {
      await release({ nextAttemptAt: new Date(now.getTime() + (opts.retryMs ?? 30 * 60_000)), lastError: result.reason });
      return { ran: true, date, outcome: 'not-ready' };
    }
    await release({ doneAt: now, lastError: null });
    return { ran: true, date, outcome: 'done', status: result.run.status, differences: result.run.differenceCount, confirmed: result.run.confirmedCount };
  } catch (err) {
    await release({ nextAttemptAt: new Date(now.getTime() + (opts.errorRetryMs ?? 15 * 60_000)), lastError: errorText(err) });
    throw err;
  }
}
