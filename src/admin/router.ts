import express, { Router } from 'express';
import type { Db } from '../db/client.js';
import { csrfProtection } from '../web/csrf.js';
import { dashboardPages } from './dashboard.js';
import type { AdminDeps } from './deps.js';
import { goodsPages } from './goods.js';
import { orderPages } from './orders.js';
import { reconciliationPages } from './reconciliation.js';
import { ADMIN_BASE, adminSession, destroyAdminSession, requireOperator } from './session.js';
import { signInRoutes } from './sign-in.js';

export interface AdminRouterOptions extends AdminDeps {
  db: Db;
  sessionSecret: string;
  secureCookie: boolean;
}

/**
 * The operator console, mounted at /admin. Each page group is a router of its own with full
 * paths; add a new group to `pages` below (it is then behind sign-in and CSRF like the rest).
 */
export function createAdminRouter(opts: AdminRouterOptions): Router {
  const router = Router();
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    res.locals.adminBase = ADMIN_BASE;
    next();
  });
  // Goods descriptions are longer than any shopper form (uploads are multipart, read by their route).
  router.use(express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 50 }));
  router.use(adminSession({ db: opts.db, secret: opts.sessionSecret, secureCookie: opts.secureCookie }));
  router.use(csrfProtection({ secret: opts.sessionSecret, secureCookie: opts.secureCookie }));
  router.use(signInRoutes(opts.db));

  router.use(requireOperator(opts.db));
  router.post('/logout', async (req, res) => {
    await destroyAdminSession(req);
    res.clearCookie('admin.sid', { path: ADMIN_BASE });
    res.redirect(303, `${ADMIN_BASE}/login`);
  });
  const pages = [dashboardPages(opts), orderPages(opts), goodsPages(opts), reconciliationPages(opts)];
  for (const page of pages) router.use(page);
  return router;
}
