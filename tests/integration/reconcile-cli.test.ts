import { execFile } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateKeyToPem, publicKeyToPem } from '../../src/alipay/index.js';
import { beijingDate, startOfBeijingDay } from '../../src/lib/beijing-time.js';
import { useTestDatabase } from '../support/db.js';
import { APP_ID, SELLER_ID, createHarness, type SandboxHarness } from '../support/sandbox-harness.js';

const t = useTestDatabase();
const CLI = path.resolve('src/cli/reconcile.ts');
let h: SandboxHarness;
let server: Server;
let gateway = '';

beforeAll(async () => {
  h = createHarness(t.db);
  h.state.clock = new Date();
  server = h.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  gateway = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sandbox/gateway.do`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await h.gateway.stop();
});

// Asynchronous: the sandbox answering the CLI runs in this process.
function reconcile(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      {
        env: {
          PATH: process.env['PATH'] ?? '',
          NODE_ENV: 'test',
          LOG_LEVEL: 'silent',
          DATA_DIR: path.join(os.tmpdir(), 'reconcile-cli-test'),
          DATABASE_URL: t.url,
          ALIPAY_GATEWAY: gateway,
          ALIPAY_APP_ID: APP_ID,
          ALIPAY_SELLER_ID: SELLER_ID,
          ALIPAY_APP_PRIVATE_KEY: privateKeyToPem(h.appKeys.privateKey),
          ALIPAY_PUBLIC_KEY: publicKeyToPem(h.alipayKeys.publicKey),
          ...env,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

describe('npm run reconcile', () => {
  it('exits 0 when the day matches', async () => {
    const res = await reconcile(['--date', '2026-01-01']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Reconciliation of 2026-01-01 (trade bill): all match');
  });

  it('exits 1 and lists the differences when there are some (default date: yesterday, Beijing)', async () => {
    const paidAt = startOfBeijingDay(new Date(), -1);
    const order = await t.db.order.create({
      data: { outTradeNo: 'CLI_NOT_IN_BILL', totalFen: 990, subject: 'Tea', status: 'PAID', tradeNo: '2026000000000000000000000009', paidAt, expiresAt: paidAt },
    });
    const res = await reconcile([]);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain(`Reconciliation of ${beijingDate(paidAt)} (trade bill): 1 difference(s)`);
    expect(res.stdout).toMatch(/NOT_IN_BILL\s+flagged\s+order CLI_NOT_IN_BILL/);
    expect(res.stdout).toContain('shop ¥9.90 (PAID)');
    await t.db.order.delete({ where: { id: order.id } });
  });

  it('exits 2 when it cannot run: no bill yet, a bad date, the gateway unreachable', async () => {
    const future = await reconcile(['--date', '2099-01-01']);
    expect(future.code).toBe(2);
    expect(future.stderr).toContain('no bill for 2099-01-01 yet');
    const bad = await reconcile(['--date', '2026-02-30']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('usage: npm run reconcile');
    const down = await reconcile(['--date', '2026-01-01'], { ALIPAY_GATEWAY: 'http://127.0.0.1:9/gateway.do' });
    expect(down.code).toBe(2);
    expect(down.stderr).toContain('could not reconcile 2026-01-01');
  });
});
