import { randomBytes, timingSafeEqual } from 'node:crypto';
import session from 'express-session';
import type { Request, RequestHandler } from 'express';
import type { Db } from '../db/client.js';
import { PrismaSessionStore } from '../db/session-store.js';
import { HttpError } from './errors.js';

declare module 'express-session' {
  interface SessionData {
    csrfToken: string;
    /** goodsId → quantity */
    cart: Record<string, number>;
    /** out_trade_no of the orders placed in this browser, newest first */
    orders: string[];
  }
}


const DAY = 24 * 60 * 60 * 1000;
const VISITOR_SESSION_MS = DAY;
const SHOPPER_SESSION_MS = 30 * DAY;

export function sessionMiddleware(opts: { db: Db; secret: string; secureCookie: boolean }): RequestHandler {
  return session({
    name: 'shop.sid',
    secret: opts.secret,
    store: new PrismaSessionStore(opts.db),
    resave: false,
    saveUninitialized: false,
    // A public https URL means TLS ends at a proxy: trust its X-Forwarded-Proto for the secure cookie.
    proxy: opts.secureCookie ? true : undefined,
    cookie: { httpOnly: true, sameSite: 'lax', secure: opts.secureCookie, maxAge: VISITOR_SESSION_MS },
  });
}

/** A session holding a cart or orders is kept for 30 days; a mere visit (CSRF token only) for one. */
export function keepSession(req: Request): void {
  req.session.cookie.maxAge = SHOPPER_SESSION_MS;
}

// Synchronizer-token CSRF protection: one random token per session, required in every unsafe
// request (form field `_csrf` or header `x-csrf-token`). Exempt routes are mounted before this.
export const csrfProtection: RequestHandler = (req, res, next) => {
  if (!req.session.csrfToken) req.session.csrfToken = randomBytes(24).toString('base64url');
  res.locals.csrfToken = req.session.csrfToken;
  if (['GET', 'HEAD', 'OPTIONS'].includes(req.method)) return next();
  const sent = (req.body as Record<string, unknown> | undefined)?._csrf ?? req.get('x-csrf-token');
  const expected = Buffer.from(req.session.csrfToken);
  if (typeof sent !== 'string' || sent.length !== expected.length || !timingSafeEqual(Buffer.from(sent), expected)) {
    throw new HttpError(403, 'This form has expired or did not come from this shop. Go back, reload the page and try again.');
  }
  next();
};

/**
 * Stores the session before answering: express-session otherwise saves it while the response is
 * ending, and a browser following a redirect can read the old session (a cart without the change).
 */
export function saveSession(req: Request): Promise<void> {
  keepSession(req);
  return new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}
