import { randomInt } from 'node:crypto';

/** `n` random decimal digits (ids shaped like Alipay's: trade numbers, app and user ids). */
export function randomDigits(n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += String(randomInt(10));
  return out;
}
