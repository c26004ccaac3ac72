import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { HttpError } from './errors.js';
import { randomToken } from './random-token.js';

const COOKIE = 'shop.csrf';
const YEAR_MS = 365 * 24 * 60 * 60 * 1000;
/** Tokens of recent visitors kept computed (a returning visitor's page costs no HMAC); ~2 MB at most. */
const REMEMBERED_TOKENS = 10_000;

/** One cookie's value from the request's Cookie header (no parsing library for one name). */
export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * CSRF protection without server-side state, so a visitor who only browses costs no database row:
 * a random value in an httpOnly cookie, and forms carry an HMAC of it (signed double submit). A
 * cross-site page can neither read the cookie nor compute the HMAC. Every unsafe request needs
 * the token (form field `_csrf`, header `x-csrf-token`, or for multipart uploads `?_csrf=` in the
 * action URL); exempt routes are mounted before this.
 */
export function csrfProtection(opts: { secret: string; secureCookie: boolean }): RequestHandler {
  const sign = (seed: string) => createHmac('sha256', opts.secret).update(`csrf:${seed}`).digest('base64url');
  const remembered = new Map<string, string>();
  const tokenOf = (seed: string) => {
    let token = remembered.get(seed);
    if (token === undefined) {
      token = sign(seed);
      if (remembered.size >= REMEMBERED_TOKENS) remembered.clear();
      remembered.set(seed, token);
    }
    return token;
  };
  return (req, res, next) => {
    const seed = readCookie(req, COOKIE);
    let expected: string;
    if (seed && /^[A-Za-z0-9_-]{32}$/.test(seed)) {
      expected = tokenOf(seed);
    } else {
      if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method)) {
        throw new HttpError(403, 'This form has expired or did not come from this shop. Go back, reload the page and try again.');
      }
      const fresh = randomToken(24, 'base64url');
      res.cookie(COOKIE, fresh, { httpOnly: true, sameSite: 'lax', secure: opts.secureCookie, maxAge: YEAR_MS, path: '/' });
      expected = sign(fresh);
    }
    res.locals.csrfToken = expected;
    if (['GET', 'HEAD', 'OPTIONS'].includes(req.method)) return next();
    // A multipart upload is read by its route as a stream, after this check: its form carries the
    // token in the action URL instead (logs redact it).
    const sent = (req.body as Record<string, unknown> | undefined)?._csrf ?? req.get('x-csrf-token') ?? (req.is('multipart/form-data') ? req.query._csrf : undefined);
    if (typeof sent !== 'string' || !safeEqual(sent, expected)) {
      throw new HttpError(403, 'This form has expired or did not come from this shop. Go back, reload the page and try again.');
    }
    next();
  };
}
