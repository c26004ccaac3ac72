import session from 'express-session';
import type { Request, RequestHandler } from 'express';
import type { Db } from '../db/client.js';
import { PrismaSessionStore } from '../db/session-store.js';
import { findActiveOperator, type Operator } from '../accounts/operators.js';
import { wantsJson } from '../lib/wants-json.js';
import { HttpError } from '../web/errors.js';

declare module 'express-session' {
  interface SessionData {
    operatorId: number;
    /** When the operator signed in (ms): the session ends 12 hours later whatever happens. */
    signedInAt: number;
  }
}

export const ADMIN_BASE = '/admin';
export const IDLE_MS = 30 * 60 * 1000;
export const ABSOLUTE_MS = 12 * 60 * 60 * 1000;

/**
 * Operator sessions, apart from shoppers': their own cookie (admin.sid, sent only to /admin),
 * 30 minutes idle (every request pushes the expiry on, in the cookie and the store) and 12 hours
 * at most after sign-in.
 */
export function adminSession(opts: { db: Db; secret: string; secureCookie: boolean }): RequestHandler {
  return session({
    name: 'admin.sid',
    secret: opts.secret,
    store: new PrismaSessionStore(opts.db),
    // resave: the store's expiry moves with the cookie's on every request (the store has no touch()).
    resave: true,
    rolling: true,
    saveUninitialized: false,
    proxy: opts.secureCookie ? true : undefined,
    cookie: { path: ADMIN_BASE, httpOnly: true, sameSite: 'lax', secure: opts.secureCookie, maxAge: IDLE_MS },
  });
}

/** Only local console paths are followed after sign-in; anything else goes to the dashboard. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || next.length > 2000) return ADMIN_BASE;
  if (!/^\/admin(?:[/?#]|$)/.test(next) || /[\\\s]/.test(next) || next.startsWith('//')) return ADMIN_BASE;
  const url = new URL(next, 'http://console.invalid');
  const local = url.origin === 'http://console.invalid' && /^\/admin(?:\/|$)/.test(url.pathname);
  return local ? `${url.pathname}${url.search}` : ADMIN_BASE;
}

function destroy(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));
}

export function operatorOf(res: { locals: Record<string, unknown> }): Operator {
  const operator = res.locals.operator as Operator | undefined;
  if (!operator) throw new HttpError(401, 'Sign in to the console first.');
  return operator;
}

/**
 * Every console route past sign-in: no operator → HTML 302 to the sign-in page (coming back
 * here after), JSON 401. A disabled operator or a session past 12 hours is signed out.
 */
export function requireOperator(db: Db): RequestHandler {
  return async (req, res, next) => {
    const { operatorId, signedInAt } = req.session ?? {};
    let operator: Operator | null = null;
    if (operatorId !== undefined && signedInAt !== undefined && Date.now() - signedInAt < ABSOLUTE_MS) {
      operator = await findActiveOperator(db, operatorId);
    }
    if (!operator) {
      if (operatorId !== undefined) await destroy(req);
      if (wantsJson(req) || req.path.endsWith('.json')) {
        res.status(401).json({ error: { status: 401, message: 'Sign in to the console first.' } });
        return;
      }
      const back = req.method === 'GET' ? safeNext(req.originalUrl) : ADMIN_BASE;
      res.redirect(302, `${ADMIN_BASE}/login${back === ADMIN_BASE ? '' : `?next=${encodeURIComponent(back)}`}`);
      return;
    }
    res.locals.operator = operator;
    next();
  };
}

/** Actions: a viewer sees everything but changes nothing. */
export const requireAdmin: RequestHandler = (_req, res, next) => {
  if (operatorOf(res).role !== 'admin') throw new HttpError(403, 'Your account can view the console but not change anything (role: viewer).');
  next();
};

export function regenerate(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
}

export function saveAdminSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}

export { destroy as destroyAdminSession };
