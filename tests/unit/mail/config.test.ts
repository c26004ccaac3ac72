import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';

describe('mail settings', () => {
  it('default to the dev mailbox and a Chinese sender name', () => {
    const config = loadConfig({});
    expect(config.mail).toEqual({ smtpUrl: undefined, from: '"支付宝商店 Alipay Shop" <shop@localhost>', pollMs: 2000 });
  });

  it('take SMTP_URL, MAIL_FROM and MAIL_POLL_MS', () => {
    const config = loadConfig({ SMTP_URL: 'smtps://u:p@smtp.example.com:465', MAIL_FROM: 'Shop <shop@example.com>', MAIL_POLL_MS: '500' });
    expect(config.mail).toEqual({ smtpUrl: 'smtps://u:p@smtp.example.com:465', from: 'Shop <shop@example.com>', pollMs: 500 });
  });

  it('refuse a bad SMTP_URL without printing it, and a MAIL_FROM that is no address', () => {
    let message = '';
    try {
      loadConfig({ SMTP_URL: 'http://secret-password@x', MAIL_FROM: 'nobody' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/SMTP_URL: must be an smtp:\/\/ or smtps:\/\/ URL/);
    expect(message).toMatch(/MAIL_FROM: must be an address/);
    expect(message).not.toContain('secret-password');
  });
});
