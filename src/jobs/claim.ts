import type { Db } from '../db/client.js';

/**
 * Takes the current period of job `name` for this instance: true for exactly one caller per
 * period, whichever instance asks first. The period ends a little early (a tenth, at most 1 s) so
 * an instance whose timer fires a few milliseconds early does not skip a whole period.
 */
export function createJobClaim(db: Db) {
  return async (name: string, periodMs: number): Promise<boolean> => {
    const ms = Math.max(0, periodMs - Math.min(1_000, periodMs / 10));
    const rows = await db.$queryRaw<{ name: string }[]>`
      INSERT INTO job_schedule (name, next_run_at, last_run_at)
      VALUES (${name}, clock_timestamp() + make_interval(secs => ${ms / 1000}::float8), clock_timestamp())
      ON CONFLICT (name) DO UPDATE SET next_run_at = EXCLUDED.next_run_at, last_run_at = EXCLUDED.last_run_at
        WHERE job_schedule.next_run_at <= clock_timestamp()
      RETURNING name`;
    return rows.length === 1;
  };
}
