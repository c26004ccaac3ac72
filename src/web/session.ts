import session from 'express-session';
import type { Request, RequestHandler } from 'express';
import type { Db } from '../db/client.js';
import { PrismaSessionStore } from '../db/session-store.js';

declare module 'express-session' {
  interface SessionData {
    /** goodsId → quantity */
    cart: Record<string, number>;
    /** out_trade_no of the orders placed in this browser, newest first */
    orders: string[];
    /** The signed-in shopper (src/web/routes/account.ts) and the account's session epoch at sign-in. */
    shopperId: number;
    shopperEpoch: number;
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

/** A session exists only once it holds a cart or orders; it is then kept for 30 days. */
export function keepSession(req: Request): void {
  req.session.cookie.maxAge = SHOPPER_SESSION_MS;
}

/** A new session id (and an empty session) for this browser: the old id stops working. */
export function regenerateSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
}

export function destroySession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));
}

/**
 * Stores the session before answering: express-session otherwise saves it while the response is
 * ending, and a browser following a redirect can read the old session (a cart without the change).
 */
export function saveSession(req: Request): Promise<void> {
  keepSession(req);
  return new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}
