import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { createJobRunner } from '../../../src/jobs/runner.js';
import { isTransientDatabaseError, retryWithBackoff } from '../../../src/ops/wait-for-database.js';

const quiet = { info: () => {}, error: () => {} };

describe('job runner', () => {
  it('skips a run when another instance has claimed the period, and reports every outcome', async () => {
    const outcomes: string[] = [];
    let runs = 0;
    let released = 0;
    const claims: (boolean | undefined)[] = [true, undefined];
    const claim = async () => (claims.shift() ? async () => void released++ : undefined);
    const runner = createJobRunner(quiet, { claim, onRun: (name, outcome) => outcomes.push(`${name}:${outcome}`) });
    runner.every('a', 20, async () => void runs++);
    await new Promise((r) => setTimeout(r, 70));
    await runner.stop();
    expect(runs).toBe(1);
    expect(released).toBe(1);
    expect(outcomes[0]).toBe('a:ok');
    expect(outcomes.slice(1).every((o) => o === 'a:skipped')).toBe(true);
  });

  it('reports a failing job as failed', async () => {
    const outcomes: string[] = [];
    const runner = createJobRunner(quiet, { onRun: (_name, outcome) => outcomes.push(outcome) });
    runner.every('b', 10_000, async () => {
      throw new Error('boom');
    });
    await runner.stop();
    expect(outcomes).toEqual(['failed']);
  });
});

describe('waiting for the database', () => {
  it('retries transient failures with growing delays, then returns', async () => {
    const delays: number[] = [];
    let tries = 0;
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const value = await retryWithBackoff(
      async () => {
        if (++tries < 4) throw refused;
        return 'up';
      },
      { firstDelayMs: 1, maxDelayMs: 4, onRetry: (_err, ms) => delays.push(ms) },
    );
    expect(value).toBe('up');
    expect(delays).toEqual([1, 2, 4]);
  });

  it('gives up at once on an error that waiting cannot fix', async () => {
    const denied = Object.assign(new Error('password authentication failed'), { code: '28P01' });
    await expect(retryWithBackoff(async () => Promise.reject(denied), { firstDelayMs: 1 })).rejects.toBe(denied);
    expect(isTransientDatabaseError(new Error('x', { cause: Object.assign(new Error('y'), { code: '57P03' }) }))).toBe(true);
  });
});

describe('operations settings', () => {
  it('defaults: metrics off, events kept forever, 5 s Alipay timeout', () => {
    expect(loadConfig({}).ops).toEqual({ metricsPort: undefined, metricsToken: undefined, paymentEventRetentionDays: undefined, shutdownDelayMs: 0, jobsTimeScale: 1, alipayTimeoutMs: 5_000 });
  });

  it('refuses bad values with a clear message and never echoes the token', () => {
    expect(() => loadConfig({ METRICS_PORT: '3000' })).toThrow(/METRICS_PORT must differ from PORT/);
    expect(() => loadConfig({ METRICS_TOKEN: 'short-secret' })).toThrow(/METRICS_TOKEN: must be at least 16 characters$/m);
    expect(() => loadConfig({ PAYMENT_EVENT_RETENTION_DAYS: '7' })).toThrow(/PAYMENT_EVENT_RETENTION_DAYS: must be at least 30/);
  });
});
