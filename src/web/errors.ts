import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { MoneyFormatError } from '../lib/money.js';
import { wantsJson } from '../lib/wants-json.js';
import { ConflictError, InvalidRequestError, NotFoundError, RateLimitedError } from '../shop/errors.js';

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(readonly status: number, message: string, readonly expose = true) {
    super(message);
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Sign-in required',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  413: 'Too large',
  415: 'Unsupported media type',
  422: 'Cannot be processed',
  429: 'Too many requests',
  500: 'Something went wrong',
  501: 'Not implemented yet',
  503: 'Service unavailable',
};

function waitText(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minutes`;
}

function statusOf(err: unknown): { status: number; message: string } {
  if (err instanceof HttpError) return { status: err.status, message: err.message };
  if (err instanceof NotFoundError) return { status: 404, message: err.message };
  if (err instanceof InvalidRequestError || err instanceof MoneyFormatError) return { status: 400, message: err.message };
  if (err instanceof ConflictError) return { status: 409, message: err.message };
  if (err instanceof RateLimitedError) return { status: 429, message: `${err.message} Try again in ${waitText(err.retryAfterSeconds)}.` };
  // body-parser / http-errors style errors carry a status and a safe message when `expose` is set
  const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown };
  const status = Number(e.status ?? e.statusCode);
  if (status >= 400 && status < 500 && e.expose) return { status, message: String(e.message) };
  return { status: 500, message: 'An unexpected error occurred. Please try again later.' };
}

export function sendError(req: Request, res: Parameters<RequestHandler>[1], status: number, message: string, detail?: string) {
  res.status(status);
  if (wantsJson(req)) {
    res.json({ error: { status, message } });
  } else {
    res.render('errors/error', { title: TITLES[status] ?? 'Error', status, message, detail });
  }
}

export const notFound: RequestHandler = (req, res) => {
  sendError(req, res, 404, `There is no page at ${req.path}.`);
};

export function createErrorHandler(opts: { showStack: boolean }): ErrorRequestHandler {
  return (err, req, res, next) => {
    const { status, message } = statusOf(err);
    if (status >= 500) req.log?.error({ err }, 'request failed');
    if (res.headersSent) return next(err);
    if (err instanceof RateLimitedError) res.set('Retry-After', String(err.retryAfterSeconds));
    const detail = opts.showStack && status >= 500 && err instanceof Error ? err.stack : undefined;
    sendError(req, res, status, message, detail);
  };
}
