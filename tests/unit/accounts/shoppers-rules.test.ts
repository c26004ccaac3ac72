import { describe, expect, it } from 'vitest';
import { isCommonPassword } from '../../../src/accounts/common-passwords.js';
import { checkNewPassword, normalizeEmail } from '../../../src/accounts/shoppers.js';
import { MAX_CART_LINES, mergeCarts } from '../../../src/shop/cart.js';
import { MAX_QUANTITY } from '../../../src/shop/orders.js';

describe('mergeCarts', () => {
  it('adds quantities of the same goods and caps each line at the maximum', () => {
    expect(mergeCarts({ 1: 95, 2: 1 }, { 1: 7, 3: 2 })).toEqual({ 1: MAX_QUANTITY, 2: 1, 3: 2 });
  });

  it('keeps the account lines first when the merged cart would exceed the line limit', () => {
    const account = Object.fromEntries(Array.from({ length: MAX_CART_LINES }, (_, i) => [String(i + 1), 1]));
    const merged = mergeCarts(account, { 1: 2, 999: 1 });
    expect(Object.keys(merged)).toHaveLength(MAX_CART_LINES);
    expect(merged[1]).toBe(3);
    expect(merged[999]).toBeUndefined();
  });

  it('ignores broken quantities', () => {
    expect(mergeCarts({ 1: -1 }, { 2: 1.5, 3: 2 })).toEqual({ 3: 2 });
  });
});

describe('passwords and emails of shoppers', () => {
  it('refuses short, common, repeated and email-like passwords', () => {
    expect(() => checkNewPassword('short')).toThrow(/at least 10/);
    expect(() => checkNewPassword('QWERTYUIOP')).toThrow(/too common/);
    expect(() => checkNewPassword('aaaaaaaaaaaa')).toThrow(/too common/);
    expect(() => checkNewPassword('zhang.wei88', 'zhang.wei88@example.com')).toThrow(/too common/);
    expect(() => checkNewPassword('x'.repeat(201))).toThrow(/at most 200/);
    expect(checkNewPassword('tea leaves and rain')).toBe('tea leaves and rain');
    expect(isCommonPassword('woaini1314')).toBe(true);
  });

  it('normalizes emails and refuses malformed ones', () => {
    expect(normalizeEmail('  Li.Na@Example.COM ')).toBe('li.na@example.com');
    for (const bad of ['', 'no-at-sign', 'a@b', 'a b@example.com', '<a>@example.com', `${'x'.repeat(65)}@example.com`]) {
      expect(() => normalizeEmail(bad), bad).toThrow();
    }
  });
});
