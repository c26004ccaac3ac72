import { AlipayError } from './errors.js';

// Alipay amounts are yuan strings with up to 2 decimals; internally integer fen.
// Never go through floats: "0.10" must stay "0.10".
const AMOUNT_RE = /^(\d{1,9})(?:\.(\d{1,2}))?$/;

export function fenToAmount(fen: number): string {
  if (!Number.isSafeInteger(fen) || fen < 0) {
    throw new AlipayError(`fenToAmount: expected a non-negative integer number of fen, got ${fen}`);
  }
  const yuan = Math.floor(fen / 100);
  const cents = fen % 100;
  return `${yuan}.${String(cents).padStart(2, '0')}`;
}

export function amountToFen(s: string): number {
  const m = AMOUNT_RE.exec(s);
  if (!m) throw new AlipayError(`not an Alipay amount: ${JSON.stringify(s)}`);
  const yuan = Number.parseInt(m[1] ?? '0', 10);
  const cents = Number.parseInt((m[2] ?? '').padEnd(2, '0'), 10);
  return yuan * 100 + cents;
}
