import { createHash, createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type { Request, RequestHandler, Response } from 'express';

export interface SandboxAccessOptions {
  /**
   * false (default): only loopback clients reach the sandbox at all. true (SANDBOX_PUBLIC, a
   * shared demo): anyone reaches the gateway and a cashier page by its link; the console needs
   * `password`.
   */
  public: boolean;
  password?: string;
  /** Keys the forms' CSRF tokens (stable across restarts, never sent to a browser). */
  secret: Buffer;
  /** Host names besides localhost that name this machine (PUBLIC_BASE_URL's). */
  hosts?: string[];
}

/** The key of the forms' CSRF tokens, derived from the gateway's own key: stable across restarts and instances. */
export function formSecret(alipayPrivateKey: KeyObject): Buffer {
  return createHash('sha256').update('sandbox-forms').update(alipayPrivateKey.export({ type: 'pkcs8', format: 'der' })).digest();
}

const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'];
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}

/**
 * A request from this machine: the socket peer is loopback, it did not come through a proxy
 * (a local reverse proxy forwards strangers from loopback too), and its Host names this machine
 * (a DNS-rebound hostname does not).
 */
export function isLocalRequest(req: Request, hosts: readonly string[] = []): boolean {
  if (!isLoopbackAddress(req.socket.remoteAddress)) return false;
  if (PROXY_HEADERS.some((h) => req.headers[h] !== undefined)) return false;
  const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
  return LOOPBACK_HOSTS.has(host) || hosts.includes(host);
}

function safeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

function passwordOf(req: Request): string | undefined {
  const header = req.get('authorization') ?? '';
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}

function refuse(res: Response, status: number, text: string) {
  res.status(status).type('text/plain').set('Cache-Control', 'no-store').send(text);
}

/**
 * Who may use which part of the sandbox. Everything is refused to other machines unless the
 * sandbox is public; then the gateway and cashier pages stay open (a cashier link, like Alipay's,
 * is the capability to pay that one trade) and the console asks for the sandbox password.
 * Every form POST carries a token only our own pages know (an HMAC per action), so a page on
 * another site cannot press Pay, Close or "fail next" with the visitor's access.
 */
export function createSandboxAccess(opts: SandboxAccessOptions) {
  if (opts.public && !opts.password) throw new Error('a public sandbox needs a password');
  const hosts = (opts.hosts ?? []).map((h) => h.toLowerCase());
  const tokenFor = (scope: string) => createHmac('sha256', opts.secret).update(`sandbox-form:${scope}`).digest('base64url');

  const reachable: RequestHandler = (req, res, next) => {
    if (opts.public || isLocalRequest(req, hosts)) return next();
    refuse(
      res,
      403,
      'The built-in Alipay sandbox answers only this machine (localhost). To share a demo, set SANDBOX_PUBLIC=true; its console then asks for the sandbox password.',
    );
  };

  const operator: RequestHandler = (req, res, next) => {
    if (!opts.public) return next();
    const sent = passwordOf(req);
    if (sent !== undefined && safeEqual(sent, opts.password!)) return next();
    res.set('WWW-Authenticate', 'Basic realm="Alipay sandbox console", charset="UTF-8"');
    refuse(res, 401, 'The sandbox console needs the sandbox password (SANDBOX_PASSWORD, or the one shown in the startup log). Any user name.');
  };

  /** Checks the `_csrf` field of a form POST against the token of `scope(req)`. */
  const formToken =
    (scope: (req: Request) => string): RequestHandler =>
    (req, res, next) => {
      const sent = (req.body as Record<string, unknown> | undefined)?.['_csrf'] ?? req.get('x-csrf-token');
      if (typeof sent === 'string' && safeEqual(sent, tokenFor(scope(req)))) return next();
      refuse(res, 403, 'This sandbox form is out of date or did not come from the sandbox. Go back, reload the page and try again.');
    };

  return { reachable, operator, formToken, tokenFor };
}

export type SandboxAccess = ReturnType<typeof createSandboxAccess>;
