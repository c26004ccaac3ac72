// Money is integer fen (分) everywhere inside; yuan strings ("12.30") exist only at the edges.
// The one parser and formatter for yuan text: Alipay's amounts, prices typed by operators, views.

export class MoneyFormatError extends Error {
  override name = 'MoneyFormatError';
}

/** ¥100,000,000.00: Alipay's ceiling for one trade, and the largest amount the shop accepts. */
export const MAX_TRADE_FEN = 10_000_000_000;

const YUAN = /^(0|[1-9]\d{0,8})(?:\.(\d{1,2}))?$/;

/** "12.3" → 1230. Rejects signs, exponents, leading zeros, more than two decimals and anything but plain digits. */
export function parseYuan(text: string, max = MAX_TRADE_FEN): number {
  const match = YUAN.exec(text);
  if (!match) throw new MoneyFormatError(`"${text}" is not an amount in yuan like 12.30`);
  const fen = Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'));
  if (fen > max) throw new MoneyFormatError(`"${text}" is more than ${formatPrice(max)}`);
  return fen;
}

function assertFen(fen: number): void {
  if (!Number.isSafeInteger(fen) || fen < 0) throw new MoneyFormatError(`${fen} is not a whole, non-negative number of fen`);
}

/** 1230 → "12.30" */
export function formatYuan(fen: number): string {
  assertFen(fen);
  return `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
}

/** formatYuan in SQL, for text PostgreSQL formats itself: an expression of integer fen → '12.30'. */
export function formatYuanSql(fenExpr: string): string {
  return `((${fenExpr}) * 0.01)::text`;
}

/** 199900 → "¥1,999.00" */
export function formatPrice(fen: number): string {
  assertFen(fen);
  const yuan = String(Math.floor(fen / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `¥${yuan}.${String(fen % 100).padStart(2, '0')}`;
}

/**
 * A fen amount read from the database (a bigint column or sum arrives as bigint or text) as a
 * number: exact, because every amount stays far below 2^53 fen — checked, not assumed.
 */
export function fenFromDb(value: bigint | string | number): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`fen value ${String(value)} is not a whole number within range`);
  return n;
}
