import { setTimeout as sleep } from 'node:timers/promises';

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  // PostgreSQL: cannot_connect_now (starting up / shutting down), connection failures, admin shutdown
  '57P01',
  '57P03',
  '08000',
  '08001',
  '08006',
]);

/** A failure that may go away by itself: the server is down, starting or unreachable for now. */
export function isTransientDatabaseError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /Connection terminated|timeout expired|the database system is (starting up|shutting down)/i.test(message)) return true;
    if (e instanceof AggregateError && e.errors.some(isTransientDatabaseError)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Runs `attempt` until it succeeds, waiting between tries with exponential backoff (capped) while
 * the error is transient; any other error is thrown at once. `onRetry` hears every failure.
 */
export async function retryWithBackoff<T>(
  attempt: () => Promise<T>,
  opts: { firstDelayMs?: number; maxDelayMs?: number; onRetry?: (err: unknown, delayMs: number, tries: number) => void; stopped?: () => boolean } = {},
): Promise<T> {
  let delay = opts.firstDelayMs ?? 250;
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isTransientDatabaseError(err) || opts.stopped?.()) throw err;
      opts.onRetry?.(err, delay, tries);
      await sleep(delay);
      delay = Math.min(delay * 2, opts.maxDelayMs ?? 5_000);
    }
  }
}
