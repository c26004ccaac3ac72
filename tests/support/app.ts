import { createApp, type AppDeps } from '../../src/app.js';
import { loadConfig, type Env } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { Db } from '../../src/db/client.js';
import { fakePayments, PUBLIC_BASE_URL } from './alipay.js';

export function testConfig(env: Env = {}) {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', PUBLIC_BASE_URL, ...env });
}

export function buildApp(db: Db, overrides: Partial<AppDeps> & { env?: Env } = {}) {
  const { env, ...deps } = overrides;
  const config = deps.config ?? testConfig(env);
  return createApp({
    config,
    db,
    logger: createLogger(config.logLevel),
    payments: fakePayments(),
    sessionSecret: 'test-session-secret-that-is-long-enough-000',
    ...deps,
  });
}
