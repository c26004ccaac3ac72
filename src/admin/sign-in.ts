import { Router } from 'express';
import { authenticateOperator, SIGN_IN_FAILED } from '../accounts/operators.js';
import type { Db } from '../db/client.js';
import { createRateLimiter, type RateLimit } from '../db/rate-limiter.js';
import { RateLimitedError } from '../shop/errors.js';
import { regenerate, safeNext, saveAdminSession } from './session.js';

const WINDOW_MS = 15 * 60 * 1000;
/** Failed sign-ins per email, and per IP (an office may share one address). */
export const SIGN_IN_PER_EMAIL: RateLimit = { name: 'admin-signin-email', limit: 5, windowMs: WINDOW_MS };
export const SIGN_IN_PER_IP: RateLimit = { name: 'admin-signin-ip', limit: 20, windowMs: WINDOW_MS };

const TOO_MANY = 'Too many failed sign-ins.';

export function signInRoutes(db: Db): Router {
  const router = Router();
  const limiter = createRateLimiter(db);

  router.get('/login', (req, res) => {
    if (req.session.operatorId !== undefined) return res.redirect(302, safeNext(req.query.next));
    res.render('admin/login', { title: 'Sign in', next: safeNext(req.query.next), email: '', error: undefined });
  });

  router.post('/login', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const email = typeof body.email === 'string' ? body.email.trim().toLowerCase().slice(0, 254) : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const next = safeNext(body.next);
    const ip = req.ip ?? 'unknown';
    const [byIp, byEmail] = await Promise.all([limiter.check(SIGN_IN_PER_IP, ip), limiter.check(SIGN_IN_PER_EMAIL, email)]);
    if (!byIp.allowed || !byEmail.allowed) {
      throw new RateLimitedError(TOO_MANY, Math.max(byIp.allowed ? 0 : byIp.retryAfterSeconds, byEmail.allowed ? 0 : byEmail.retryAfterSeconds));
    }
    const operator = email && password ? await authenticateOperator(db, email, password) : null;
    if (!operator) {
      await Promise.all([limiter.hit(SIGN_IN_PER_IP, ip), limiter.hit(SIGN_IN_PER_EMAIL, email)]);
      req.log?.info({ email }, 'operator sign-in failed');
      res.status(401).render('admin/login', { title: 'Sign in', next, email, error: SIGN_IN_FAILED });
      return;
    }
    await limiter.reset(SIGN_IN_PER_EMAIL, email);
    // A new session id at sign-in: an id planted before (fixation) is worth nothing after.
    await regenerate(req);
    req.session.operatorId = operator.id;
    req.session.signedInAt = Date.now();
    await saveAdminSession(req);
    req.log?.info({ operator: operator.email }, 'operator signed in');
    res.redirect(303, next);
  });

  return router;
}
