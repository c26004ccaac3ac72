import type { Db } from '../db/client.js';

/**
 * Takes the current period of job `name` for this instance, whichever instance asks first: a
 * release function for exactly one caller per period, undefined for the others. A run holds a
 * lease (`running_until`, ten periods, at least 5 minutes, for an instance killed mid-run) that
 * the release ends, so runs never overlap across instances even when one outlasts its period.
 * The period ends a little early (a tenth, at most 1 s) so an instance whose timer fires a few
 * milliseconds early does not skip a whole period.
 */
export function createJobClaim(db: Db) {
  return async (name: string, periodMs: number): Promise<(() => Promise<void>) | undefined> => {
    const next = Math.max(0, periodMs - Math.min(1_000, periodMs / 10)) / 1000;
    const lease = Math.max(periodMs * 10, 300_000) / 1000;
    const rows = await db.$queryRaw<{ name: string }[]>`
      INSERT INTO job_schedule (name, next_run_at, running_until, last_run_at)
      VALUES (${name}, clock_timestamp() + make_interval(secs => ${next}::float8), clock_timestamp() + make_interval(secs => ${lease}::float8), clock_timestamp())
      ON CONFLICT (name) DO UPDATE SET next_run_at = EXCLUDED.next_run_at, running_until = EXCLUDED.running_until, last_run_at = EXCLUDED.last_run_at
        WHERE job_schedule.next_run_at <= clock_timestamp()
          AND (job_schedule.running_until IS NULL OR job_schedule.running_until <= clock_timestamp())
      RETURNING name`;
    if (rows.length !== 1) return undefined;
    return async () => {
      await db.$executeRaw`UPDATE job_schedule SET running_until = NULL WHERE name = ${name}`;
    };
  };
}
