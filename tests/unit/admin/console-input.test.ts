import { describe, expect, it } from 'vitest';
import { csvLine, isoBeijing } from '../../../src/admin/present.js';
import { safeNext } from '../../../src/admin/session.js';
import { decodeCursor, encodeCursor, filtersToQuery, parseOrderFilters } from '../../../src/shop/admin-orders.js';
import { InvalidRequestError } from '../../../src/shop/errors.js';

describe('safeNext', () => {
  it('follows only local console paths', () => {
    expect(safeNext('/admin/orders?status=PAID')).toBe('/admin/orders?status=PAID');
    expect(safeNext('/admin')).toBe('/admin');
    for (const bad of ['//evil.example', 'https://evil.example', '/\\evil.example', '/admin/../evil', '/administrator', '/orders', 'javascript:alert(1)', '', undefined, ['/admin'], '/admin\n/x']) {
      expect(safeNext(bad)).toBe('/admin');
    }
  });
});

describe('order filters', () => {
  it('read status (repeatable), q, dates and attention from the query, and write them back', () => {
    const f = parseOrderFilters({ status: ['PAID', 'REFUNDED', 'PAID'], q: ' 2026 ', from: '2026-11-01', to: '2026-11-30', attention: '1' });
    expect(f).toEqual({ statuses: ['PAID', 'REFUNDED'], q: '2026', from: '2026-11-01', to: '2026-11-30', attention: true });
    expect(filtersToQuery(f, { after: 'abc' })).toBe('?status=PAID&status=REFUNDED&q=2026&from=2026-11-01&to=2026-11-30&attention=1&after=abc');
    expect(filtersToQuery(parseOrderFilters({}))).toBe('');
  });

  it('refuse what they cannot read with a message', () => {
    for (const query of [{ status: 'LOST' }, { from: '2026-02-30' }, { from: '2026-11-02', to: '2026-11-01' }, { attention: 'yes' }, { q: ['a', 'b'] }]) {
      expect(() => parseOrderFilters(query)).toThrow(InvalidRequestError);
    }
  });

  it('cursors round-trip and a forged one is a 400', () => {
    const at = { createdAt: new Date('2026-11-25T10:00:00.123Z'), id: 42 };
    expect(decodeCursor(encodeCursor(at))).toEqual(at);
    expect(() => decodeCursor('bm9wZQ')).toThrow(InvalidRequestError);
    expect(() => decodeCursor('x'.repeat(100))).toThrow(InvalidRequestError);
  });
});

describe('presenting', () => {
  it('times are ISO 8601 in Beijing time with the offset', () => {
    expect(isoBeijing(new Date('2026-11-25T16:30:00.000Z'))).toBe('2026-11-26T00:30:00.000+08:00');
  });

  it('CSV cells are quoted when needed and never start a formula', () => {
    expect(csvLine(['a', 'b,c', 'say "hi"', '=1+1', '-2', '茶'])).toBe('a,"b,c","say ""hi""",\'=1+1,\'-2,茶\r\n');
  });
});
