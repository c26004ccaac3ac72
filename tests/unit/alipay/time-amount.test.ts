import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { amountToFen, fenToAmount, formatAlipayTime, parseAlipayTime } from '../../../src/alipay/index.js';

describe('formatAlipayTime', () => {
  it('formats in Beijing time (UTC+8)', () => {
    expect(formatAlipayTime(new Date('2026-11-25T16:30:05Z'))).toBe('2026-11-26 00:30:05');
    expect(formatAlipayTime(new Date('2026-01-01T00:00:00Z'))).toBe('2026-01-01 08:00:00');
  });

  it.each(['UTC', 'America/New_York', 'Asia/Kolkata'])('is independent of the process zone (TZ=%s)', (tz) => {
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        "import('./src/alipay/time.ts').then(m => process.stdout.write(m.formatAlipayTime(new Date('2026-07-01T20:15:00Z'))))",
      ],
      { env: { ...process.env, TZ: tz }, encoding: 'utf8' },
    );
    expect(out).toBe('2026-07-02 04:15:00');
  });

  it('round-trips through parseAlipayTime', () => {
    const d = new Date('2026-03-04T05:06:07Z');
    expect(parseAlipayTime(formatAlipayTime(d)).getTime()).toBe(d.getTime());
    expect(parseAlipayTime('2026-11-25 08:00:00').toISOString()).toBe('2026-11-25T00:00:00.000Z');
  });

  it.each(['2026-11-25T08:00:00', '2026-11-25 8:00:00', '2026-02-30 00:00:00', '2026-11-25 24:00:00', '', 'x'])(
    'parseAlipayTime rejects %j',
    (s) => {
      expect(() => parseAlipayTime(s)).toThrow();
    },
  );
});

describe('amounts', () => {
  it.each([
    [0, '0.00'],
    [1, '0.01'],
    [10, '0.10'],
    [1230, '12.30'],
    [1900, '19.00'],
    [10_000_000_000, '100000000.00'],
  ])('fenToAmount(%d) = %s', (fen, s) => {
    expect(fenToAmount(fen)).toBe(s);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('fenToAmount rejects %d', (fen) => {
    expect(() => fenToAmount(fen)).toThrow();
  });

  it.each([
    ['19.00', 1900],
    ['19', 1900],
    ['19.1', 1910],
    ['0.10', 10],
    ['0.01', 1],
    ['100000000.00', 10_000_000_000],
  ])('amountToFen(%j) = %d', (s, fen) => {
    expect(amountToFen(s)).toBe(fen);
  });

  it.each(['1.234', '-1', 'abc', '1e3', '', ' 1', '1 ', '1.', '.5', '0x10', '1,00', '1234567890.00'])(
    'amountToFen rejects %j',
    (s) => {
      expect(() => amountToFen(s)).toThrow();
    },
  );
});
