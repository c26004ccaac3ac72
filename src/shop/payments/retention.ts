import type { Db } from '../../db/client.js';

const BATCH = 5_000;

/**
 * Deletes payment events (the audit trail of notifications and queries) received more than `days`
 * days ago, in batches so no single statement holds locks for long. Returns how many went.
 */
export async function purgePaymentEvents(db: Db, days: number, now = new Date()): Promise<number> {
  const before = new Date(now.getTime() - days * 86_400_000);
  let total = 0;
  for (;;) {
    const deleted = await db.$executeRaw`
      DELETE FROM payment_events WHERE id IN (SELECT id FROM payment_events WHERE received_at < ${before} LIMIT ${BATCH})`;
    total += deleted;
    if (deleted < BATCH) return total;
  }
}
