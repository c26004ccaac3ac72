import { randomBytes, timingSafeEqual } from 'node:crypto';
import session, { Store, type SessionData } from 'express-session';
import type { Request, RequestHandler } from 'express';
import { queryRows, type Db } from '../db/client.js';
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

// Sessions live in PostgreSQL so several app instances behind a proxy share them.
export class PrismaSessionStore extends Store {
  constructor(private readonly db: Db) {
    super();
  }

  override get(sid: string, cb: (err: unknown, session?: SessionData | null) => void): void {
    queryRows<{ data: SessionData }>(this.db, 'SELECT data FROM sessions WHERE sid = $1 AND expires_at > now()', [sid])
      .then((rows) => cb(null, rows[0]?.data ?? null), cb);
  }

  override set(sid: string, data: SessionData, cb?: (err?: unknown) => void): void {
    const expiresAt = data.cookie?.expires ? new Date(data.cookie.expires) : new Date(Date.now() + DAY);
    const json = JSON.stringify(data);
    this.db.$executeRaw`
      INSERT INTO sessions (sid, data, expires_at) VALUES (${sid}, ${json}::jsonb, ${expiresAt})
      ON CONFLICT (sid) DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at`
      .then(() => cb?.(), (err) => cb?.(err));
  }

  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    this.db.session.deleteMany({ where: { sid } }).then(() => cb?.(), (err) => cb?.(err));
  }
}

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

/** Deletes expired sessions; run now and then. */
export async function purgeExpiredSessions(db: Db): Promise<number> {
  return (await db.session.deleteMany({ where: { expiresAt: { lt: new Date() } } })).count;
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
