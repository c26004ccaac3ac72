// Shared set-up for the HTTP benchmarks: a throwaway embedded PostgreSQL, migrated, and the shop
// app listening on a free loopback port. Traffic stays on 127.0.0.1.
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import type { Express } from 'express';
import { createApp, type AppDeps } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createDb, type Db } from '../src/db/client.js';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres/index.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { createLogger } from '../src/logger.js';
import { createAlipayPayments, type AlipayPayments } from '../src/payments/alipay-adapter.js';

export const appKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
export const alipayKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
export const APP_ID = '2021000122671234';

export async function startBenchDatabase() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shop-bench-'));
  await chmod(dir, 0o755);
  const server = await startEmbeddedPostgres({ dir: path.join(dir, 'postgres') });
  await server.ensureDatabase('bench');
  const url = server.url('bench');
  await migrateDatabase(url);
  return {
    url,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function benchGateway(): AlipayPayments {
  return createAlipayPayments(
    {
      appId: APP_ID,
      gatewayUrl: 'https://openapi.alipay.com/gateway.do',
      signType: 'RSA2',
      appPrivateKey: appKeys.privateKey,
      alipayPublicKey: alipayKeys.publicKey,
      pagePayMethod: 'GET',
    },
    'http://127.0.0.1',
  );
}

export function buildShop(db: Db, extra: Partial<AppDeps> = {}): Express {
  const config = loadConfig({ NODE_ENV: 'production', LOG_LEVEL: 'silent', SESSION_SECRET: 'bench-secret-bench-secret-bench-secret!!' });
  return createApp({ config, db, logger: createLogger('silent'), payments: benchGateway(), sessionSecret: config.sessionSecret!, ...extra });
}

export async function listen(app: Express): Promise<{ url: string; close: () => Promise<void> }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

export async function load(opts: autocannon.Options): Promise<LoadResult> {
  const result = await autocannon({ ...opts });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

export function report(name: string, r: LoadResult) {
  console.log(`${name.padEnd(34)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${String(r.p50).padStart(4)} ms   p99 ${String(r.p99).padStart(4)} ms   errors ${r.errors}   non-2xx ${r.non2xx}`);
}

export { createDb };
