import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSignedResponse, privateKeyToPem, publicKeyToBase64 } from '../../src/alipay/index.js';
import { PROJECT_ROOT } from '../../src/paths.js';
import { placeOrder } from '../../src/shop/orders.js';
import { alipayKeys, APP_ID, appKeys } from '../support/alipay.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm start` as a user runs it (tsx src/main.ts), with only the given environment. */
function start(env: Record<string, string>, opts: { onStdout?: (text: string, kill: (signal: NodeJS.Signals) => void) => void } = {}): Promise<Run> {
  return launch(env, opts).done;
}

function launch(env: Record<string, string>, opts: { onStdout?: (text: string, kill: (signal: NodeJS.Signals) => void) => void } = {}) {
  let kill: (signal: NodeJS.Signals) => void = () => {};
  const done = new Promise<Run>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: os.tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    kill = (signal) => child.kill(signal);
    const run: Run = { code: null, stdout: '', stderr: '' };
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.stdout.on('data', (chunk: Buffer) => {
      run.stdout += chunk.toString();
      opts.onStdout?.(run.stdout, (signal) => child.kill(signal));
    });
    child.stderr.on('data', (chunk: Buffer) => void (run.stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      run.code = code;
      resolve(run);
    });
  });
  return { done, kill: (signal: NodeJS.Signals) => kill(signal) };
}

async function freePort(): Promise<string> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return String(port);
}

async function tmp(prefix: string) {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

describe('starting the shop (npm start) when something is in the way', () => {
  it('a busy port: one clear line on stderr, exit 1, never "listening"', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const run = await start({ PORT: String(port), DATABASE_URL: t.url, DATA_DIR: await tmp('busy-port-'), NODE_ENV: 'development', LOG_LEVEL: 'info' });
      expect(run.code).toBe(1);
      expect(run.stderr.trim()).toBe(`Port ${port} is already in use. Stop the other program or set PORT to a free port.`);
      expect(run.stdout).not.toContain('shop listening');
    } finally {
      blocker.close();
    }
  }, 120_000);

  it('a DATA_DIR that cannot be written: one line naming the folder and what to do, exit 1', async () => {
    const file = path.join(await tmp('data-dir-'), 'not-a-folder');
    await writeFile(file, 'x');
    const dataDir = path.join(file, 'data');
    const run = await start({ PORT: await freePort(), DATABASE_URL: t.url, DATA_DIR: dataDir, NODE_ENV: 'development', LOG_LEVEL: 'info' });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      `DATA_DIR ${dataDir} cannot be written (a part of the path is a file, not a folder): set DATA_DIR to a folder this user (uid ${process.getuid?.()}) can write, or fix its permissions.`,
    );
    expect(run.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);

  it('a misspelt ALIPAY_ variable stops startup naming it and the closest known name', async () => {
    const run = await start({ ALIPAY_APPID: '2021000122671234', DATABASE_URL: t.url, DATA_DIR: await tmp('typo-') });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('ALIPAY_APPID is not a known setting (did you mean ALIPAY_APP_ID?)');
  }, 120_000);

  it('without NODE_ENV, says it runs in development mode with the sandbox', async () => {
    const run = await start({ PORT: await freePort(), DATABASE_URL: t.url, DATA_DIR: await tmp('dev-mode-'), LOG_LEVEL: 'info' }, {
      onStdout: (text, kill) => text.includes('shop listening') && kill('SIGTERM'),
    });
    expect(run.stdout).toContain('NODE_ENV is not set: running in development mode with the built-in Alipay sandbox');
    expect(run.code).toBe(0);
  }, 120_000);
});

describe('shutdown', () => {
  it('waits for a running expiry sweep (its Alipay call and its database write) before closing the pool', async () => {
    const goods = await t.db.goods.create({ data: { name: 'Swept tea', priceFen: 100 } });
    const order = await placeOrder(t.db, { lines: [{ goodsId: goods.id, quantity: 1 }], ttlMinutes: 1, now: new Date(Date.now() - 10 * 60_000) });
    let queried: () => void = () => {};
    const queryArrived = new Promise<void>((resolve) => (queried = resolve));
    let answer: () => void = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    // Alipay's gateway, slow to answer the sweep's query.
    const gateway: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => void (body += chunk.toString()));
      req.on('end', async () => {
        const method = new URL(req.url ?? '/', 'http://x').searchParams.get('method') ?? new URLSearchParams(body).get('method') ?? '';
        queried();
        await answered;
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.end(buildSignedResponse(method, { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_NOT_EXIST', sub_msg: '交易不存在' }, alipayKeys.privateKey));
      });
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    try {
      const app = launch({
        PORT: await freePort(),
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        DATABASE_URL: t.url,
        DATA_DIR: await tmp('shutdown-'),
        ALIPAY_GATEWAY: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/gateway.do`,
        ALIPAY_APP_ID: APP_ID,
        ALIPAY_APP_PRIVATE_KEY: privateKeyToPem(appKeys.privateKey),
        ALIPAY_PUBLIC_KEY: publicKeyToBase64(alipayKeys.publicKey),
      });
      await queryArrived;
      // SIGTERM while the sweep waits for Alipay; then Alipay answers.
      app.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      answer();
      const run = await app.done;
      expect(run.stdout).toMatch(/"job":"expiry sweep".*"expired":1/);
      expect(run.stdout).not.toContain('shutdown step failed');
      expect(run.code).toBe(0);
      expect((await t.db.order.findUniqueOrThrow({ where: { outTradeNo: order.outTradeNo } })).status).toBe('EXPIRED');
    } finally {
      answer();
      gateway.close();
    }
  }, 120_000);
});

describe('logs at shutdown', () => {
  it('every request answered before SIGTERM has its log line with its request id (logs are written in batches)', async () => {
    const port = await freePort();
    let listening: () => void = () => {};
    const ready = new Promise<void>((resolve) => (listening = resolve));
    const app = launch(
      {
        PORT: port,
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        DATABASE_URL: t.url,
        DATA_DIR: await tmp('log-flush-'),
        ALIPAY_GATEWAY: 'http://127.0.0.1:1/gateway.do',
        ALIPAY_APP_ID: APP_ID,
        ALIPAY_APP_PRIVATE_KEY: privateKeyToPem(appKeys.privateKey),
        ALIPAY_PUBLIC_KEY: publicKeyToBase64(alipayKeys.publicKey),
      },
      { onStdout: (text) => text.includes('shop listening') && listening() },
    );
    await ready;
    const ids = Array.from({ length: 40 }, (_, i) => `flush-${i}`);
    for (const id of ids) expect((await fetch(`http://127.0.0.1:${port}/`, { headers: { 'X-Request-Id': id } })).status).toBe(200);
    app.kill('SIGTERM');
    const run = await app.done;
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const completed = lines.filter((l) => l.msg === 'request completed').map((l) => l.reqId);
    expect(completed).toEqual(ids);
    expect(lines.at(-1)).toMatchObject({ msg: 'stopped' });
  }, 120_000);
});
