import { randomBytes } from 'node:crypto';
import session from 'express-session';
import type { Request, RequestHandler } from 'express';
import type { Db } from '../db/client.js';
import { PrismaSessionStore } from '../db/session-store.js';
import { readCookie } from './csrf.js';

declare module 'express-session' {
  interface SessionData {
    /** goodsId → quantity */
    cart: Record<string, number>;
    /** out_trade_no of the orders placed in this browser, newest first (sessions from before `browser`) */
    orders: string[];
    /** The signed-in shopper (src/web/routes/account.ts) and the account's session epoch at sign-in. */
    shopperId: number;
    shopperEpoch: number;
    /** The reference its orders carry (orders.browser_ref), so placing one does not rewrite the session. */
    browser: string;
  }
}


const DAY = 24 * 60 * 60 * 1000;
const VISITOR_SESSION_MS = DAY;
const SHOPPER_SESSION_MS = 30 * DAY;

/** What the store held when the request began (data without the cookie), to skip unchanged writes. */
const loaded = new WeakMap<Request, { json: string; expires: number }>();
const dataJson = (req: Request) => JSON.stringify({ ...req.session, cookie: undefined });

const COOKIE = 'shop.sid';

/** Requests without a session so far (no cookie, nothing has asked for it): how to make it. */
const pending = new WeakMap<Request, () => void>();
const withAccessors = new WeakSet<object>();

/**
 * `req.session` and `req.sessionID` on the app's request prototype: reading them makes a pending
 * session; assigning them (express-session does) stores a plain value on the request.
 */
function installAccessors(proto: object) {
  if (withAccessors.has(proto)) return;
  withAccessors.add(proto);
  for (const name of ['session', 'sessionID'] as const) {
    Object.defineProperty(proto, name, {
      configurable: true,
      get(this: Request) {
        const make = pending.get(this);
        if (!make) return undefined;
        make();
        return this[name];
      },
      set(this: Request, value: unknown) {
        Object.defineProperty(this, name, { value, writable: true, configurable: true, enumerable: true });
      },
    });
  }
}

/**
 * express-session, made only when needed: a request without a session cookie has nothing to read,
 * so its session (a new id, the cookie and end-of-response hooks) is made the first time a route
 * touches `req.session` or `req.sessionID` — a visitor who only browses costs no session work at
 * all, and never a database read or write.
 */
export function sessionMiddleware(opts: { db: Db; secret: string; secureCookie: boolean }): RequestHandler {
  const handler = session({
    name: COOKIE,
    secret: opts.secret,
    store: new PrismaSessionStore(opts.db),
    resave: false,
    saveUninitialized: false,
    // A public https URL means TLS ends at a proxy: trust its X-Forwarded-Proto for the secure cookie.
    proxy: opts.secureCookie ? true : undefined,
    cookie: { httpOnly: true, sameSite: 'lax', secure: opts.secureCookie, maxAge: VISITOR_SESSION_MS },
  });
  const load: RequestHandler = (req, res, next) => {
    handler(req, res, (err?: unknown) => {
      if (err === undefined && req.session) loaded.set(req, { json: dataJson(req), expires: req.session.cookie.expires?.getTime() ?? 0 });
      next(err);
    });
  };
  return (req, res, next) => {
    installAccessors(Object.getPrototypeOf(req) as object);
    if (readCookie(req, COOKIE) !== undefined) return load(req, res, next);
    pending.set(req, () => {
      pending.delete(req);
      // Without a cookie express-session only makes a new session: synchronously, no store call.
      load(req, res, (err?: unknown) => {
        if (err) throw err;
      });
    });
    next();
  };
}

/** The session's data, or undefined while this request has none (no cookie, not needed so far). */
export function existingSession(req: Request): Request['session'] | undefined {
  return pending.has(req) ? undefined : req.session;
}

/** This browser's reference for its orders (made, and stored with the session, on its first order). */
export function browserRef(req: Request): string {
  req.session.browser ??= randomBytes(16).toString('base64url');
  return req.session.browser;
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
  // Nothing changed in a stored session whose 30 days were renewed less than a day ago: no write.
  const before = loaded.get(req);
  const json = dataJson(req);
  if (before && json !== '{}' && json === before.json && before.expires > Date.now() + SHOPPER_SESSION_MS - DAY) return Promise.resolve();
  return new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}
