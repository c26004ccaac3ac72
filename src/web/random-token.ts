import { randomFillSync } from 'node:crypto';

const pool = Buffer.allocUnsafe(4096);
let offset = pool.length;

/**
 * `bytes` random bytes (CSPRNG) as text, drawn from a pool refilled 4 KB at a time: one call into
 * the system's generator per ~250 nonces instead of one each. Every byte is handed out once.
 */
export function randomToken(bytes: number, encoding: 'base64' | 'base64url'): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const token = pool.toString(encoding, offset, offset + bytes);
  offset += bytes;
  return token;
}
