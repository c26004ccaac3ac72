import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('config', () => {
  it('starts with nothing configured', () => {
    const config = loadConfig({}, '/srv/shop');
    expect(config.port).toBe(3000);
    expect(config.publicBaseUrl).toBe('http://localhost:3000');
    expect(config.dataDir).toBe(path.resolve('/srv/shop/data'));
    expect(config.databaseUrl).toBeUndefined();
    expect(config.env).toBe('development');
  });

  it('reads SANDBOX_BILL_TODAY (off unless set)', () => {
    expect(loadConfig({}).sandboxBillToday).toBe(false);
    expect(loadConfig({ SANDBOX_BILL_TODAY: 'true' }).sandboxBillToday).toBe(true);
    expect(() => loadConfig({ SANDBOX_BILL_TODAY: 'maybe' })).toThrow(ConfigError);
  });

  it('treats empty values as unset', () => {
    const config = loadConfig({ PORT: '', DATABASE_URL: ' ', PUBLIC_BASE_URL: '' });
    expect(config.port).toBe(3000);
    expect(config.databaseUrl).toBeUndefined();
  });

  it('derives PUBLIC_BASE_URL from PORT', () => {
    expect(loadConfig({ PORT: '8080' }).publicBaseUrl).toBe('http://localhost:8080');
  });

  it('lists every invalid variable in one error', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'abc', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', PUBLIC_BASE_URL: 'ftp://x' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const key of ['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'PUBLIC_BASE_URL']) expect(message).toContain(key);
    expect((error as ConfigError).problems).toHaveLength(4);
  });

  it('refuses a half-configured Alipay and names what is missing', () => {
    expect(() => loadConfig({ ALIPAY_APP_ID: '2021000000000000' })).toThrow(/ALIPAY_APP_PRIVATE_KEY, ALIPAY_PUBLIC_KEY/);
  });

  it('never prints secret values in its error', () => {
    expect(() => loadConfig({ SESSION_SECRET: 'short-but-secret', DATABASE_URL: 'mysql://user:hunter2@db/shop' })).toThrow(ConfigError);
    try {
      loadConfig({ SESSION_SECRET: 'short-but-secret', DATABASE_URL: 'mysql://user:hunter2@db/shop' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
      expect((err as Error).message).not.toContain('short-but-secret');
      expect((err as Error).message).toContain('SESSION_SECRET');
    }
  });

  it('requires PUBLIC_BASE_URL in production with a real gateway (Alipay cannot notify localhost)', () => {
    const real = { NODE_ENV: 'production', ALIPAY_GATEWAY: 'https://openapi.alipay.com/gateway.do', ALIPAY_APP_ID: '2021000122671234', ALIPAY_APP_PRIVATE_KEY: 'x', ALIPAY_PUBLIC_KEY: 'y' };
    expect(() => loadConfig(real)).toThrow(/PUBLIC_BASE_URL must be set in production/);
    expect(loadConfig({ ...real, PUBLIC_BASE_URL: 'https://shop.example.com/' }).publicBaseUrl).toBe('https://shop.example.com');
  });
});
