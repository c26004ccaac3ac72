import { describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../src/db/rate-limiter.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();
const limit = { name: 'test', limit: 5, windowMs: 60_000 };

describe('rate limits shared through PostgreSQL', () => {
  it('allows `limit` hits per window, then says how long to wait, then starts a new window', async () => {
    const limiter = createRateLimiter(t.db);
    const t0 = new Date('2026-11-27T00:00:00Z');
    for (let i = 1; i <= 5; i++) expect(await limiter.hit(limit, 'a@example.com', t0)).toMatchObject({ allowed: true, hits: i });
    expect(await limiter.check(limit, 'a@example.com', t0)).toMatchObject({ allowed: false, hits: 5 });
    const later = new Date(t0.getTime() + 15_000);
    expect(await limiter.hit(limit, 'a@example.com', later)).toEqual({ allowed: false, hits: 6, retryAfterSeconds: 45 });
    expect(await limiter.hit(limit, 'b@example.com', later)).toMatchObject({ allowed: true, hits: 1 });
    const next = new Date(t0.getTime() + 60_000);
    expect(await limiter.check(limit, 'a@example.com', next)).toMatchObject({ allowed: true, hits: 0 });
    expect(await limiter.hit(limit, 'a@example.com', next)).toMatchObject({ allowed: true, hits: 1 });
    expect(await limiter.purgeExpired(new Date(next.getTime() + 60_000))).toBe(2);
  });

  it('counts concurrent hits exactly (no lost updates between instances)', async () => {
    const limiter = createRateLimiter(t.db);
    // Warm the pool so the hits really run at once.
    await Promise.all(Array.from({ length: 20 }, () => t.db.$executeRaw`SELECT pg_sleep(0.01)`));
    for (let round = 0; round < 5; round++) {
      const subject = `concurrent-${round}`;
      const results = await Promise.all(Array.from({ length: 20 }, () => limiter.hit(limit, subject)));
      expect(results.filter((r) => r.allowed)).toHaveLength(5);
      expect(results.map((r) => r.hits).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    }
  });

  it('hitMany counts several counters in one statement, each with its own window', async () => {
    const limiter = createRateLimiter(t.db);
    const perSession = { name: 'many-session', limit: 2, windowMs: 60_000 };
    const perIp = { name: 'many-ip', limit: 3, windowMs: 600_000 };
    const t0 = new Date('2026-11-27T01:00:00Z');
    const hit = (session: string) => limiter.hitMany([{ limit: perSession, subject: session }, { limit: perIp, subject: '203.0.113.7' }], t0);
    expect(await hit('s1')).toMatchObject([{ allowed: true, hits: 1 }, { allowed: true, hits: 1 }]);
    expect(await hit('s1')).toMatchObject([{ allowed: true, hits: 2 }, { allowed: true, hits: 2 }]);
    expect(await hit('s1')).toEqual([{ allowed: false, hits: 3, retryAfterSeconds: 60 }, { allowed: true, hits: 3, retryAfterSeconds: 600 }]);
    expect(await hit('s2')).toEqual([{ allowed: true, hits: 1, retryAfterSeconds: 60 }, { allowed: false, hits: 4, retryAfterSeconds: 600 }]);
    expect(await limiter.check(perIp, '203.0.113.7', t0)).toMatchObject({ hits: 4 });
  });
});
