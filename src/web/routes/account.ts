import { Router, type Request, type RequestHandler, type Response } from 'express';
import { InvalidCredentialsError, type ShopperAccounts, type SignedInShopper } from '../../accounts/shoppers.js';
import { listShopperOrders } from '../../accounts/shopper-orders.js';
import { InvalidRequestError } from '../../shop/errors.js';
import { existingSession, regenerateSession, saveSession, destroySession } from '../session.js';

type Body = Record<string, unknown>;

/** The signed-in shopper of this request (set by loadShopper), if any. */
export function signedInShopper(res: Response): SignedInShopper | undefined {
  return res.locals.shopper as SignedInShopper | undefined;
}

/**
 * Puts the signed-in shopper in res.locals. A session whose account is gone or whose sessions
 * were ended (password reset or change elsewhere) gets a fresh, signed-out session instead.
 * Signed in, the account's cart is the cart, the same on every device.
 */
export function loadShopper(accounts: ShopperAccounts): RequestHandler {
  return async (req, res, next) => {
    const id = existingSession(req)?.shopperId;
    if (id === undefined) return next();
    const current = await accounts.currentShopper(id, req.session.shopperEpoch ?? -1);
    if (!current) {
      await regenerateSession(req);
      return next();
    }
    res.locals.shopper = current.shopper;
    if (JSON.stringify(req.session.cart ?? {}) !== JSON.stringify(current.cart)) req.session.cart = current.cart;
    next();
  };
}

/** A local path to go back to after signing in; anything else (other sites, `//host`) becomes /account. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/(?![/\\])[\x21-\x7e]{0,500}$/.test(value) ? value : '/account';
}

function clientIp(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/**
 * Signs this browser in: the guest cart and the guest orders of this session go to the account,
 * then the session id is replaced (a planted session id gets nothing) and marked with the account.
 */
async function signInBrowser(req: Request, accounts: ShopperAccounts, shopper: SignedInShopper): Promise<void> {
  const cart = await accounts.adoptGuestSession(shopper.id, { cart: req.session.cart, orders: req.session.orders, browserRef: req.session.browser });
  await regenerateSession(req);
  req.session.shopperId = shopper.id;
  req.session.shopperEpoch = shopper.sessionEpoch;
  req.session.cart = cart;
  await saveSession(req);
}

/** Renders a form again with what was typed (never the password) and why it was refused. */
async function retryForm(res: Response, view: string, status: number, locals: Record<string, unknown>, work: () => Promise<void>) {
  try {
    await work();
  } catch (err) {
    if (err instanceof InvalidRequestError || err instanceof InvalidCredentialsError) {
      return res.status(status === 0 ? (err instanceof InvalidCredentialsError ? 401 : 400) : status).render(view, { ...locals, error: err.message });
    }
    throw err;
  }
}

function requireShopper(req: Request, res: Response): SignedInShopper | undefined {
  const shopper = signedInShopper(res);
  if (!shopper) res.redirect(303, `/account/signin?next=${encodeURIComponent(req.originalUrl)}`);
  return shopper;
}

export function accountRoutes(accounts: ShopperAccounts, opts: { db: Parameters<typeof listShopperOrders>[0] }): Router {
  const router = Router();

  router.get('/account/signup', (_req, res) => {
    res.render('account/signup', { title: 'Create an account', email: '', error: undefined });
  });

  router.post('/account/signup', async (req, res) => {
    const body = (req.body ?? {}) as Body;
    const email = typeof body.email === 'string' ? body.email.slice(0, 254) : '';
    await retryForm(res, 'account/signup', 400, { title: 'Create an account', email }, async () => {
      const done = await accounts.signUp({ email: body.email, password: body.password, ip: clientIp(req) });
      // The same answer whether or not the email already had an account.
      res.render('account/check-mailbox', { title: 'Check your mailbox', email: done.email, reason: 'signup' });
    });
  });

  router.get('/account/signin', (req, res) => {
    res.render('account/signin', { title: 'Sign in', email: '', next: safeNext(req.query.next), error: undefined });
  });

  router.post('/account/signin', async (req, res) => {
    const body = (req.body ?? {}) as Body;
    const email = typeof body.email === 'string' ? body.email.slice(0, 254) : '';
    const next = safeNext(body.next);
    await retryForm(res, 'account/signin', 0, { title: 'Sign in', email, next }, async () => {
      const shopper = await accounts.signIn({ email: body.email, password: body.password, ip: clientIp(req) });
      await signInBrowser(req, accounts, shopper);
      req.log?.info({ shopperId: shopper.id }, 'shopper signed in');
      res.redirect(303, next);
    });
  });

  router.post('/account/signout', async (req, res) => {
    await destroySession(req);
    res.clearCookie('shop.sid', { path: '/' });
    res.redirect(303, '/');
  });

  router.get('/account', async (req, res) => {
    const shopper = requireShopper(req, res);
    if (!shopper) return;
    const { orders } = await listShopperOrders(opts.db, shopper.id, { limit: 5 });
    res.render('account/show', { title: 'My account', account: shopper, orders, notice: noticeOf(req.query.done), error: undefined });
  });

  router.post('/account/password', async (req, res) => {
    const shopper = requireShopper(req, res);
    if (!shopper) return;
    const body = (req.body ?? {}) as Body;
    const { orders } = await listShopperOrders(opts.db, shopper.id, { limit: 5 });
    await retryForm(res, 'account/show', 400, { title: 'My account', account: shopper, orders, notice: undefined }, async () => {
      const updated = await accounts.changePassword({ shopperId: shopper.id, current: body.current, next: body.password, keepSessionId: req.sessionID });
      const cart = req.session.cart;
      await regenerateSession(req);
      req.session.shopperId = updated.id;
      req.session.shopperEpoch = updated.sessionEpoch;
      req.session.cart = cart ?? {};
      await saveSession(req);
      res.redirect(303, '/account?done=password');
    });
  });

  router.post('/account/verify/resend', async (req, res) => {
    const shopper = requireShopper(req, res);
    if (!shopper) return;
    await accounts.resendVerification(shopper.id);
    res.redirect(303, '/account?done=resent');
  });

  router.get('/account/verify', async (req, res) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    const { email } = await accounts.verifyEmail(token);
    res.render('account/verified', { title: 'Email confirmed', email });
  });

  router.get('/account/reset', (_req, res) => {
    res.render('account/reset-request', { title: 'Reset your password', email: '', error: undefined });
  });

  router.post('/account/reset', async (req, res) => {
    const body = (req.body ?? {}) as Body;
    const email = typeof body.email === 'string' ? body.email.slice(0, 254) : '';
    await retryForm(res, 'account/reset-request', 400, { title: 'Reset your password', email }, async () => {
      const done = await accounts.requestPasswordReset({ email: body.email, ip: clientIp(req) });
      res.render('account/check-mailbox', { title: 'Check your mailbox', email: done.email, reason: 'reset' });
    });
  });

  router.get('/account/reset/:token', async (req, res) => {
    await accounts.checkResetToken(req.params.token);
    res.render('account/reset-password', { title: 'Choose a new password', token: req.params.token, error: undefined });
  });

  router.post('/account/reset/:token', async (req, res) => {
    const body = (req.body ?? {}) as Body;
    const token = req.params.token;
    await retryForm(res, 'account/reset-password', 400, { title: 'Choose a new password', token }, async () => {
      const shopper = await accounts.resetPassword({ token, password: body.password });
      await signInBrowser(req, accounts, shopper);
      res.redirect(303, '/account?done=reset');
    });
  });

  return router;
}

function noticeOf(done: unknown): string | undefined {
  if (done === 'password') return 'Your password was changed. Other devices were signed out.';
  if (done === 'reset') return 'Your new password is set. You are signed in here and signed out everywhere else.';
  if (done === 'resent') return 'We sent you a new confirmation link.';
  return undefined;
}
