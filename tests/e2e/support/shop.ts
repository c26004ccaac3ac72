import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { identifyPostmaster } from '../../../src/db/embedded-postgres/cluster.js';
import { freePort, processAlive } from '../../../src/db/embedded-postgres/os.js';
import { E2E_OUTPUT_DIR, REPO_ROOT } from './browser.js';

export interface Shop {
  /** http://localhost:<port> — the same origin as the app's PUBLIC_BASE_URL default, so cookies match across the Alipay return. */
  url: string;
  port: number;
  dataDir: string;
  logFile: string;
  pid: number;
  stop(): Promise<void>;
}

export interface StartShopOptions {
  /** Name of the log file under test-results/e2e/ (default shop-app.log). */
  logName?: string;
  env?: Record<string, string>;
  /** How long to wait for GET /readyz to answer 200 (default 60 s): /healthz is alive already while the database starts. */
  startTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** Last resort after a SIGKILLed app: stop the embedded PostgreSQL it started (its pid is in postmaster.pid). */
async function stopOrphanPostgres(dataDir: string): Promise<void> {
  const cluster = path.join(dataDir, 'postgres');
  const pidFile = path.join(cluster, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const lines = (await readFile(pidFile, 'utf8')).split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return;
  if ((await identifyPostmaster(cluster, pid, Number(lines[2]))) !== 'ours') return;
  process.kill(pid, 'SIGQUIT');
  for (let i = 0; i < 50 && processAlive(pid); i++) await sleep(100);
  if (processAlive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * Starts the shop the way `npm start` does (tsx src/main.ts) on a free port with a fresh, empty
 * DATA_DIR: embedded PostgreSQL, migrations, seed goods and the built-in Alipay sandbox gateway.
 * Node is spawned directly (npm does not forward signals) so stop() can SIGTERM the app itself.
 */
export async function startShop(opts: StartShopOptions = {}): Promise<Shop> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'shop-e2e-'));
  // As root the embedded PostgreSQL runs as the `postgres` user, which must traverse this dir.
  await chmod(dataDir, 0o755);
  const port = await freePort();
  await mkdir(E2E_OUTPUT_DIR, { recursive: true });
  const logFile = path.join(E2E_OUTPUT_DIR, opts.logName ?? 'shop-app.log');
  const log = createWriteStream(logFile);
  const logClosed = new Promise<void>((resolve) => log.once('close', () => resolve()));

  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      SANDBOX_TIME_SCALE: '0.001',
      NODE_ENV: 'development',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const outputDone = Promise.all([
    new Promise<void>((resolve) => child.stdout?.once('close', () => resolve()) ?? resolve()),
    new Promise<void>((resolve) => child.stderr?.once('close', () => resolve()) ?? resolve()),
  ]);

  // If the test process goes away without stop(), still ask the app to shut down (it stops its PostgreSQL).
  const onParentExit = () => {
    if (!exited(child)) child.kill('SIGTERM');
  };
  process.once('exit', onParentExit);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', onParentExit);
    if (!exited(child)) {
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 15_000))) {
        console.warn(`e2e: the shop (pid ${child.pid}) did not stop within 15 s of SIGTERM; killing it (log: ${logFile})`);
        child.kill('SIGKILL');
        await waitForExit(child, 5_000);
      }
    }
    await stopOrphanPostgres(dataDir).catch(() => {});
    await Promise.race([outputDone, sleep(2_000)]);
    log.end();
    await logClosed;
    await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
  };

  const url = `http://localhost:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  let lastError = '';
  try {
    for (;;) {
      if (exited(child)) throw new Error(`the shop exited during startup (code ${child.exitCode}, signal ${child.signalCode})`);
      try {
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
        if (res.status === 200) break;
        lastError = `GET /readyz answered ${res.status}`;
      } catch (err) {
        lastError = String((err as Error).cause ?? err);
      }
      if (Date.now() > deadline) throw new Error(`the shop did not answer GET /readyz with 200 within ${opts.startTimeoutMs ?? 60_000} ms (last: ${lastError})`);
      await sleep(250);
    }
  } catch (err) {
    await stop();
    let output = '';
    try {
      output = readFileSync(logFile, 'utf8');
    } catch {
      // no log
    }
    throw new Error(`${(err as Error).message}\n--- app output (${logFile}) ---\n${output.slice(-8_000) || '(none)'}`);
  }

  return { url, port, dataDir, logFile, pid: child.pid!, stop };
}
