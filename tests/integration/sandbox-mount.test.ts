import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createAlipayPayments } from '../../src/payments/alipay-adapter.js';
import { setUpPayments } from '../../src/wiring.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();

describe('the built-in sandbox gateway in the app', () => {
  it('is mounted when no gateway is configured, and every page says no real money moves', async () => {
    const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'mount-')) });
    const payments = await setUpPayments(config, t.db, createLogger('silent'));
    const app = buildApp(t.db, {
      config,
      payments: createAlipayPayments(payments.settings, config.publicBaseUrl),
      sandbox: { basePath: '/sandbox', router: payments.sandbox!.router },
    });
    const home = await request(app).get('/').expect(200);
    expect(home.text).toContain('SANDBOX — no real money');
    const keys = await request(app).get('/sandbox/keys').set('Accept', 'application/json').expect(200);
    expect(JSON.stringify(keys.body)).toContain(payments.settings.appId);
    await payments.sandbox!.stop();
  });

  it('does not exist when a real gateway is configured', async () => {
    const app = buildApp(t.db);
    const home = await request(app).get('/').expect(200);
    expect(home.text).not.toContain('SANDBOX');
    await request(app).get('/sandbox/gateway.do').expect(404);
    await request(app).get('/sandbox').expect(404);
  });
});
