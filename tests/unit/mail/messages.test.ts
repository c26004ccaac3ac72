import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../../src/mail/outbox.js';
import { paymentReceivedMessage, refundMadeMessage, verifyEmailMessage } from '../../../src/mail/messages.js';
import { linkify } from '../../../src/web/routes/dev-mail.js';

describe('mail messages', () => {
  it('escape what they show in HTML and keep the text part plain', () => {
    const m = paymentReceivedMessage({
      order: { outTradeNo: '20261127aa', totalFen: 1_230, paidAt: new Date('2026-11-27T02:00:00Z'), items: [{ name: '<b>茶</b> & "cup"', unitPriceFen: 615, quantity: 2 }] },
      link: 'http://shop.test/orders/20261127aa?x=1&y=2',
    });
    expect(m.html).toContain('&lt;b&gt;茶&lt;/b&gt; &amp; &quot;cup&quot;');
    expect(m.html).not.toContain('<b>茶</b>');
    expect(m.html).toContain('href="http://shop.test/orders/20261127aa?x=1&amp;y=2"');
    expect(m.text).toContain('<b>茶</b> & "cup"');
    expect(m.text).toContain('2026-11-27 10:00:00'); // Beijing time
    expect(m.text).toContain('¥12.30');
  });

  it('are bilingual', () => {
    const m = verifyEmailMessage({ email: 'a@example.com', link: 'http://shop.test/account/verify?token=t' });
    expect(m.subject).toBe('请确认您的邮箱 Confirm your email');
    expect(m.text).toMatch(/确认邮箱[\s\S]*Confirm my email/);
    expect(m.html).toContain('lang="zh-CN"');
    expect(m.html).toContain('lang="en"');
  });

  it('say how much of a refunded order is left', () => {
    const m = refundMadeMessage({ outTradeNo: 'n', refundedFen: 1_000, totalFen: 3_800, link: 'http://shop.test/orders/n' });
    expect(m.text).toContain('¥28.00 left');
  });
});

describe('retries', () => {
  it('back off exponentially from the base, capped at an hour', () => {
    expect([1, 2, 3, 4].map((a) => retryDelayMs(a, 30_000))).toEqual([30_000, 60_000, 120_000, 240_000]);
    expect(retryDelayMs(20, 30_000)).toBe(3_600_000);
  });
});

describe('dev mailbox links', () => {
  it('splits text into plain parts and links', () => {
    expect(linkify('Open http://x.test/a?b=1 now')).toEqual([{ text: 'Open ' }, { text: 'http://x.test/a?b=1', href: 'http://x.test/a?b=1' }, { text: ' now' }]);
    expect(linkify('javascript:alert(1)')).toEqual([{ text: 'javascript:alert(1)' }]);
  });
});
