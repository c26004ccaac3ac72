import { describe, expect, it } from 'vitest';
import { formatPrice, formatYuan, MoneyFormatError, parseYuan } from '../../../src/lib/money.js';

describe('money', () => {
  it.each([
    ['12.30', 1230],
    ['12.3', 1230],
    ['0.01', 1],
    ['0.10', 10],
    ['1999', 199900],
    ['0', 0],
    ['100000000.00', 10_000_000_000],
  ])('parses "%s" as %i fen', (text, fen) => {
    expect(parseYuan(text)).toBe(fen);
  });

  it.each(['1.234', '-1', 'abc', '1e3', '', ' 1', '1.', '.5', '01.00', '+1', '1,000', '100000000.01', 'NaN', 'Infinity'])(
    'rejects "%s"',
    (text) => {
      expect(() => parseYuan(text)).toThrow(MoneyFormatError);
    },
  );

  it.each([
    [1230, '12.30'],
    [1, '0.01'],
    [10, '0.10'],
    [0, '0.00'],
    [199900, '1999.00'],
  ])('formats %i fen as "%s"', (fen, text) => {
    expect(formatYuan(fen)).toBe(text);
  });

  it('round-trips every fen value in a range without drift', () => {
    for (let fen = 0; fen < 20_000; fen += 7) expect(parseYuan(formatYuan(fen))).toBe(fen);
  });

  it('formats prices for people with a yuan sign and thousands separators', () => {
    expect(formatPrice(1230)).toBe('¥12.30');
    expect(formatPrice(199900)).toBe('¥1,999.00');
    expect(formatPrice(1)).toBe('¥0.01');
    expect(formatPrice(123456789)).toBe('¥1,234,567.89');
  });

  it.each([-1, 1.5, Number.NaN])('refuses to format %s', (fen) => {
    expect(() => formatYuan(fen)).toThrow(MoneyFormatError);
  });
});
