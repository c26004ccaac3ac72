import { InvalidRequestError } from '../shop/errors.js';
import { MAX_QUANTITY } from '../shop/orders.js';

export function parseGoodsId(value: unknown): number {
  if (typeof value !== 'string' || !/^[1-9]\d{0,9}$/.test(value) || Number(value) > 2_147_483_647) {
    throw new InvalidRequestError(value === undefined || value === '' ? 'Choose a product to buy (goodsId is missing).' : 'There is no such product.');
  }
  return Number(value);
}

export function parseQuantity(value: unknown, opts: { allowZero?: boolean } = {}): number {
  if (value === undefined || value === '') throw new InvalidRequestError('Enter a quantity.');
  const min = opts.allowZero ? 0 : 1;
  if (typeof value !== 'string' || !/^\d{1,3}$/.test(value) || Number(value) < min || Number(value) > MAX_QUANTITY) {
    throw new InvalidRequestError(`Quantity must be a whole number from ${min} to ${MAX_QUANTITY}.`);
  }
  return Number(value);
}
