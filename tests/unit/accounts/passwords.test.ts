import { describe, expect, it } from 'vitest';
import { generatePassword, hashPassword, verifyNoPassword, verifyPassword } from '../../../src/accounts/passwords.js';

describe('password hashing', { timeout: 30_000 }, () => {
  it('verifies the right password and refuses a wrong one; every hash is salted', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[\w-]+\$[\w-]+$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
    expect(await verifyPassword('correct horse battery', 'plain')).toBe(false);
  });

  it('treats the same characters in another Unicode form as the same password', async () => {
    const hash = await hashPassword('caf\u00e9-password');
    expect(await verifyPassword('cafe\u0301-password', hash)).toBe(true);
  });

  it('spends time on an unknown account too, and generates long random passwords', async () => {
    expect(await verifyNoPassword('anything at all')).toBe(false);
    const p = generatePassword();
    expect(p).toHaveLength(24);
    expect(p).not.toBe(generatePassword());
  });
});
