import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { authenticateOperator } from '../../src/accounts/operators.js';
import { createLogger } from '../../src/logger.js';
import { ensureFirstOperator } from '../../src/wiring.js';
import { testConfig } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();

function cli(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/operator.ts', ...args], {
      env: { ...process.env, DATABASE_URL: t.url, NODE_ENV: 'test', LOG_LEVEL: 'silent' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('npm run operator', () => {
  it('adds, lists, changes passwords, disables and enables operators; refuses bad input with exit 1', async () => {
    const added = await cli(['add', 'Boss@Shop.test', '--role', 'viewer'], 'a-long-enough-password\n');
    expect(added).toMatchObject({ code: 0 });
    expect(added.stdout).toContain('operator boss@shop.test added (role viewer)');
    expect(await authenticateOperator(t.db, 'BOSS@shop.test', 'a-long-enough-password')).toMatchObject({ email: 'boss@shop.test', role: 'viewer' });

    const duplicate = await cli(['add', 'boss@shop.test'], 'another-long-password\n');
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('already exists');
    const weak = await cli(['add', 'weak@shop.test'], 'short\n');
    expect(weak.code).toBe(1);
    expect(weak.stderr).toContain('at least 10 characters');
    const unknown = await cli(['passwd', 'nobody@shop.test'], 'a-long-enough-password\n');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('There is no operator nobody@shop.test');

    const generated = await cli(['add', 'gen@shop.test', '--generate']);
    expect(generated.code).toBe(0);
    const password = /password \(shown once\): (\S+)/.exec(generated.stdout)?.[1];
    expect(password).toHaveLength(24);
    expect(await authenticateOperator(t.db, 'gen@shop.test', password!)).not.toBeNull();

    expect((await cli(['passwd', 'boss@shop.test'], 'the-new-password-123\n')).code).toBe(0);
    expect(await authenticateOperator(t.db, 'boss@shop.test', 'the-new-password-123')).not.toBeNull();
    expect((await cli(['disable', 'boss@shop.test'])).code).toBe(0);
    expect(await authenticateOperator(t.db, 'boss@shop.test', 'the-new-password-123')).toBeNull();
    const list = await cli(['list']);
    expect(list.stdout).toMatch(/boss@shop\.test\tviewer\tdisabled/);
    expect(list.stdout).toMatch(/gen@shop\.test\tadmin\tactive/);
    expect((await cli(['enable', 'boss@shop.test'])).code).toBe(0);
    expect(await authenticateOperator(t.db, 'boss@shop.test', 'the-new-password-123')).not.toBeNull();
  }, 240_000);
});

describe('the first operator (zero config)', () => {
  it('is created once on the embedded database, its password in DATA_DIR/operator-password.txt (0600); never in production', async () => {
    await t.db.operator.deleteMany();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'first-operator-'));
    try {
      const logger = createLogger('silent');
      await ensureFirstOperator(testConfig({ DATA_DIR: dataDir, NODE_ENV: 'production', SESSION_SECRET: 'x'.repeat(32) }), t.db, true, logger);
      await ensureFirstOperator(testConfig({ DATA_DIR: dataDir }), t.db, false, logger);
      expect(await t.db.operator.count()).toBe(0);

      await ensureFirstOperator(testConfig({ DATA_DIR: dataDir }), t.db, true, logger);
      const file = path.join(dataDir, 'operator-password.txt');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const password = (await readFile(file, 'utf8')).trim();
      expect(await authenticateOperator(t.db, 'admin@localhost', password)).toMatchObject({ role: 'admin' });

      await ensureFirstOperator(testConfig({ DATA_DIR: dataDir }), t.db, true, logger);
      expect(await t.db.operator.count()).toBe(1);
      expect((await readFile(file, 'utf8')).trim()).toBe(password);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
