import { createHash } from 'node:crypto';
import { queryRows, type Db } from './client.js';

export interface RateLimit {
  /** Names the counter, e.g. `signin-ip`. */
  name: string;
  /** How many hits a window allows. */
  limit: number;
  windowMs: number;
}

export interface RateLimitState {
  /** False once the window holds more hits than the limit allows. */
  allowed: boolean;
  hits: number;
  /** When the window ends (0 when nothing is counted). */
  retryAfterSeconds: number;
}

function keyOf(limit: RateLimit, subject: string): string {
  return `${limit.name.slice(0, 50)}:${createHash('sha256').update(subject).digest('base64url')}`;
}

function stateOf(limit: RateLimit, row: { hits: number; expires_at: Date } | undefined, now: Date): RateLimitState {
  if (!row) return { allowed: true, hits: 0, retryAfterSeconds: 0 };
  return {
    allowed: row.hits <= limit.limit,
    hits: row.hits,
    retryAfterSeconds: Math.max(1, Math.ceil((row.expires_at.getTime() - now.getTime()) / 1000)),
  };
}

/**
 * Fixed-window counters in PostgreSQL, so a limit holds across every app instance. One upsert
 * per hit: a window that has ended starts again at 1.
 */
const HIT_MANY_SQL = `
INSERT INTO rate_limits (key, hits, window_start, expires_at)
SELECT k, 1, $1::timestamptz, e FROM unnest($2::text[], $3::timestamptz[]) AS h(k, e)
ON CONFLICT (key) DO UPDATE SET
  hits = CASE WHEN rate_limits.expires_at <= $1::timestamptz THEN 1 ELSE rate_limits.hits + 1 END,
  window_start = CASE WHEN rate_limits.expires_at <= $1::timestamptz THEN $1::timestamptz ELSE rate_limits.window_start END,
  expires_at = CASE WHEN rate_limits.expires_at <= $1::timestamptz THEN EXCLUDED.expires_at ELSE rate_limits.expires_at END
RETURNING key, hits, expires_at`;

export function createRateLimiter(db: Db) {
  return {
    /** Counts one hit and says whether it is still within the limit. */
    async hit(limit: RateLimit, subject: string, now = new Date()): Promise<RateLimitState> {
      const expiresAt = new Date(now.getTime() + limit.windowMs);
      const rows = await db.$queryRaw<{ hits: number; expires_at: Date }[]>`
        INSERT INTO rate_limits (key, hits, window_start, expires_at)
        VALUES (${keyOf(limit, subject)}, 1, ${now}, ${expiresAt})
        ON CONFLICT (key) DO UPDATE SET
          hits = CASE WHEN rate_limits.expires_at <= ${now} THEN 1 ELSE rate_limits.hits + 1 END,
          window_start = CASE WHEN rate_limits.expires_at <= ${now} THEN ${now} ELSE rate_limits.window_start END,
          expires_at = CASE WHEN rate_limits.expires_at <= ${now} THEN ${expiresAt} ELSE rate_limits.expires_at END
        RETURNING hits, expires_at`;
      return stateOf(limit, rows[0], now);
    },

    /**
     * Takes up to `n` units of a budget (e.g. provider calls per minute across all instances) in
     * one statement; returns how many were granted (0 once the window's budget is spent).
     */
    async take(limit: RateLimit, subject: string, n: number, now = new Date()): Promise<number> {
      const expiresAt = new Date(now.getTime() + limit.windowMs);
      const rows = await db.$queryRaw<{ hits: number }[]>`
        INSERT INTO rate_limits (key, hits, window_start, expires_at)
        VALUES (${keyOf(limit, subject)}, ${n}, ${now}, ${expiresAt})
        ON CONFLICT (key) DO UPDATE SET
          hits = CASE WHEN rate_limits.expires_at <= ${now} THEN ${n} ELSE LEAST(rate_limits.hits, ${limit.limit}) + ${n} END,
          window_start = CASE WHEN rate_limits.expires_at <= ${now} THEN ${now} ELSE rate_limits.window_start END,
          expires_at = CASE WHEN rate_limits.expires_at <= ${now} THEN ${expiresAt} ELSE rate_limits.expires_at END
        RETURNING hits`;
      const hits = rows[0]?.hits ?? n;
      return Math.max(0, Math.min(n, limit.limit - (hits - n)));
    },

    /**
     * Counts one hit on several counters in one statement (one round trip on a hot path, e.g.
     * per session and per address); states in the order given. Distinct keys only.
     */
    async hitMany(hits: { limit: RateLimit; subject: string }[], now = new Date()): Promise<RateLimitState[]> {
      const keys = hits.map((h) => keyOf(h.limit, h.subject));
      const ends = hits.map((h) => new Date(now.getTime() + h.limit.windowMs));
      // On the order path: a statement prepared once per connection, not built by Prisma each time.
      const rows = await queryRows<{ key: string; hits: number; expires_at: Date }>(db, HIT_MANY_SQL, [now, keys, ends], 'rate_limit_hit_many');
      const byKey = new Map(rows.map((r) => [r.key, r]));
      return hits.map((h, i) => stateOf(h.limit, byKey.get(keys[i]!), now));
    },

    /** The current window without counting (e.g. "is this sign-in already blocked?"). */
    async check(limit: RateLimit, subject: string, now = new Date()): Promise<RateLimitState> {
      const rows = await db.$queryRaw<{ hits: number; expires_at: Date }[]>`
        SELECT hits, expires_at FROM rate_limits WHERE key = ${keyOf(limit, subject)} AND expires_at > ${now}`;
      const state = stateOf(limit, rows[0], now);
      // Blocked means the next hit would go over the limit.
      return { ...state, allowed: state.hits < limit.limit };
    },

    async reset(limit: RateLimit, subject: string): Promise<void> {
      await db.rateLimit.deleteMany({ where: { key: keyOf(limit, subject) } });
    },

    /** Drops ended windows; run now and then. */
    async purgeExpired(now = new Date()): Promise<number> {
      return (await db.rateLimit.deleteMany({ where: { expiresAt: { lte: now } } })).count;
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;

/** The first refused state of several (the one to wait for longest), or undefined when all are allowed. */
export function refused(states: RateLimitState[]): RateLimitState | undefined {
  const over = states.filter((s) => !s.allowed);
  return over.length ? over.reduce((a, b) => (a.retryAfterSeconds >= b.retryAfterSeconds ? a : b)) : undefined;
}
