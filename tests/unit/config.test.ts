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
    const real = { NODE_ENV: 'production', ALIPAY_SELLER_ID: '2088123456789012', ALIPAY_GATEWAY: 'https://openapi.alipay.com/gateway.do', ALIPAY_APP_ID: '2021000122671234', ALIPAY_APP_PRIVATE_KEY: 'x', ALIPAY_PUBLIC_KEY: 'y' };
    expect(() => loadConfig(real)).toThrow(/PUBLIC_BASE_URL must be set in production/);
    expect(loadConfig({ ...real, PUBLIC_BASE_URL: 'https://shop.example.com/' }).publicBaseUrl).toBe('https://shop.example.com');
  });
});

describe('config: mistakes that would silently switch to the sandbox', () => {
  it('stops on an unknown ALIPAY_ or SANDBOX_ name, naming it and the closest known name', () => {
    let message = '';
    try {
      loadConfig({ ALIPAY_APPID: '2021000122671234', ALIPAY_GATWAY: 'https://openapi.alipay.com/gateway.do', SANDBOX_PASWORD: 'x', OTHER_THING: '1' });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toContain('ALIPAY_APPID is not a known setting (did you mean ALIPAY_APP_ID?)');
    expect(message).toContain('ALIPAY_GATWAY is not a known setting (did you mean ALIPAY_GATEWAY?)');
    expect(message).toContain('SANDBOX_PASWORD is not a known setting (did you mean SANDBOX_PASSWORD?)');
    expect(message).not.toContain('OTHER_THING');
  });

  it('says when NODE_ENV was not set (development assumed)', () => {
    expect(loadConfig({}).envDefaulted).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development' }).envDefaulted).toBe(false);
  });

  it('requires ALIPAY_SELLER_ID in production with a real gateway', () => {
    const real = {
      NODE_ENV: 'production',
      PUBLIC_BASE_URL: 'https://shop.example.com',
      ALIPAY_GATEWAY: 'https://openapi.alipay.com/gateway.do',
      ALIPAY_APP_ID: '2021000122671234',
      ALIPAY_APP_PRIVATE_KEY: 'x',
      ALIPAY_PUBLIC_KEY: 'y',
    };
    expect(() => loadConfig(real)).toThrow(/ALIPAY_SELLER_ID must be set in production/);
    expect(loadConfig({ ...real, ALIPAY_SELLER_ID: '2088123456789012' }).alipay.sellerId).toBe('2088123456789012');
    expect(() => loadConfig({ ...real, NODE_ENV: 'development' })).not.toThrow();
  });

  it('keeps the sandbox loopback-only unless SANDBOX_PUBLIC=true', () => {
    expect(loadConfig({}).sandbox).toEqual({ public: false, password: undefined });
    expect(loadConfig({ SANDBOX_PUBLIC: 'true', SANDBOX_PASSWORD: 'long-enough-pw' }).sandbox).toEqual({ public: true, password: 'long-enough-pw' });
    expect(() => loadConfig({ SANDBOX_PASSWORD: 'short' })).toThrow(/SANDBOX_PASSWORD/);
  });
});
