import { formatYuan, parseYuan } from '../lib/money.js';
import { AlipayError } from './errors.js';

// Alipay amounts are yuan strings with up to 2 decimals; internally integer fen.
// Never go through floats: "0.10" must stay "0.10".

export function fenToAmount(fen: number): string {
  try {
    return formatYuan(fen);
  } catch (err) {
    throw new AlipayError(`fenToAmount: expected a non-negative integer number of fen, got ${fen}`, { cause: err });
  }
}

export function amountToFen(s: string): number {
  try {
    return parseYuan(s);
  } catch (err) {
    throw new AlipayError(`not an Alipay amount: ${JSON.stringify(s)}`, { cause: err });
  }
}
