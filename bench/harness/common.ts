// What bench/run.ts and bench/mixed.ts share: paths, the bench's Alipay identity, the build, the
// cached keys and signed notifications, and small helpers.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import pg from 'pg';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HARNESS = path.join(ROOT, 'bench', 'harness');
export const CACHE = path.join(ROOT, 'bench', '.cache');
export const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
export const APP_ID = '2021000122671234';
export const SELLER_ID = '2088102177649450';
export const SESSION_SECRET = 'bench-session-secret-bench-session-secret';
export const TICKS = 100; // USER_HZ on Linux

export function requireWrk() {
  if (spawnSync('wrk', ['--version']).error) {
    console.error('wrk is not installed: apt-get install wrk (Debian/Ubuntu), then run again.');
    process.exit(1);
  }
}

/** src and bench/baselines compiled into dist/ (BENCH_SKIP_BUILD=1 reuses it). */
export function build() {
  if (process.env.BENCH_SKIP_BUILD === '1') return;
  console.log('building (tsc -p tsconfig.bench.json: src and bench/baselines into dist/)…');
  const built = spawnSync('npx', ['tsc', '-p', 'tsconfig.bench.json'], { cwd: ROOT, stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}

type KeyPair = { privateKey: string; publicKey: string };

/** The app's and "Alipay's" RSA keys, made once and kept in bench/.cache. */
export function benchKeys(): Record<'app' | 'alipay', KeyPair> {
  mkdirSync(CACHE, { recursive: true });
  const keysFile = path.join(CACHE, 'keys.json');
  if (!existsSync(keysFile)) {
    const pair = (): KeyPair => {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string };
    };
    writeFileSync(keysFile, JSON.stringify({ app: pair(), alipay: pair() }));
  }
  return JSON.parse(readFileSync(keysFile, 'utf8')) as Record<'app' | 'alipay', KeyPair>;
}

/**
 * At least `count` distinct notifications signed with Alipay's bench key, one per line in the
 * returned file, with their out_trade_no in the same order (cached: RSA signing is the slow part).
 */
export async function notifications(count: number): Promise<{ file: string; outTradeNos: string[] }> {
  const keys = benchKeys();
  const file = path.join(CACHE, 'notifications.txt');
  const numbersFile = path.join(CACHE, 'notification-orders.txt');
  let numbers = existsSync(numbersFile) ? readFileSync(numbersFile, 'utf8').split('\n').filter(Boolean) : [];
  if (numbers.length < count) {
    const more = Array.from({ length: count - numbers.length }, () => `20261127${randomBytes(12).toString('hex')}`);
    console.log(`signing ${more.length} notifications (cached in bench/.cache for later runs)…`);
    const workers = Math.max(1, os.availableParallelism());
    const chunks = Array.from({ length: workers }, (_, w) => more.filter((_n, i) => i % workers === w));
    const signed = await Promise.all(
      chunks.map(
        (outTradeNos) =>
          new Promise<string[]>((resolve, reject) => {
            const worker = new Worker(path.join(HARNESS, 'sign-worker.mjs'), {
              workerData: { distAlipay: pathToFileURL(path.join(ROOT, 'dist/src/alipay/index.js')).href, alipayPrivateKeyPem: keys.alipay.privateKey, appId: APP_ID, sellerId: SELLER_ID, outTradeNos },
            });
            worker.once('message', resolve);
            worker.once('error', reject);
          }),
      ),
    );
    const existing = numbers.length ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    numbers = [...numbers, ...chunks.flat()];
    writeFileSync(numbersFile, numbers.join('\n') + '\n');
    writeFileSync(file, [...existing, ...signed.flat()].join('\n') + '\n');
  }
  return { file, outTradeNos: numbers };
}

/** One statement on its own connection. */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
