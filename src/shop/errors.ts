// Domain errors carry no HTTP codes; src/web/errors.ts maps them.

export class ShopError extends Error {
  override name = 'ShopError';
}

export class NotFoundError extends ShopError {
  override name = 'NotFoundError';
}

/** The request asks for something the rules forbid (bad quantity, inactive goods, …). */
export class InvalidRequestError extends ShopError {
  override name = 'InvalidRequestError';
}

/** The action conflicts with the current state (e.g. paying an expired order). */
export class ConflictError extends ShopError {
  override name = 'ConflictError';
}

/** Too many attempts of something limited; try again after `retryAfterSeconds`. */
export class RateLimitedError extends ShopError {
  override name = 'RateLimitedError';
  constructor(message: string, readonly retryAfterSeconds: number) {
    super(message);
  }
}
