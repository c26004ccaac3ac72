import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../fixtures/summary');

describe('the CI summary line', () => {
  it('counts tests stopped by a failing beforeAll, and a failing afterAll, as failures (not skipped)', () => {
    const run = spawnSync(process.execPath, [path.resolve('node_modules/vitest/vitest.mjs'), 'run', '--root', root, '--config', path.join(root, 'vitest.config.ts')], {
      encoding: 'utf8',
      env: { ...process.env, CI: '1', NO_COLOR: '1' },
      timeout: 60_000,
    });
    const line = run.stdout.trim().split('\n').at(-1);
    expect(line).toBe('2 passed, 3 failed, 1 skipped');
    expect(run.status).not.toBe(0);
  }, 90_000);
});
