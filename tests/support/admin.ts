import type { Express, Router } from 'express';
import request from 'supertest';
import { beforeAll } from 'vitest';
import { addOperator, type OperatorRole } from '../../src/accounts/operators.js';
import type { Db } from '../../src/db/client.js';
import { FakeAlipayApi, fakePayments } from './alipay.js';
import { buildApp } from './app.js';
import type { TestDatabase } from './db.js';

export const OPERATOR_PASSWORD = 'correct horse battery';

export interface RouteInfo {
  method: 'get' | 'post';
  path: string;
}

/** Every route of a router, nested routers included (page groups are mounted without a path). */
export function routesOf(router: Router): RouteInfo[] {
  const found: RouteInfo[] = [];
  const walk = (stack: unknown[]) => {
    for (const layer of stack as { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown[] } }[]) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) if (method === 'get' || method === 'post') found.push({ method, path: layer.route.path });
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((router as unknown as { stack: unknown[] }).stack);
  return found;
}

let counter = 0;

/** A new operator of the given role, signed in through the sign-in form in a browser-like agent. */
export async function signedInOperator(app: Express, db: Db, opts: { role?: OperatorRole; ip?: string } = {}) {
  const email = `op${++counter}-${Date.now()}@shop.test`;
  await addOperator(db, { email, password: OPERATOR_PASSWORD, role: opts.role ?? 'admin' });
  const agent = request.agent(app);
  const ip = opts.ip ?? `10.1.${counter % 250}.${(counter * 7) % 250}`;
  const login = await agent.get('/admin/login').set('X-Forwarded-For', ip).expect(200);
  const token = csrfTokenOf(login.text);
  const res = await agent.post('/admin/login').set('X-Forwarded-For', ip).type('form').send({ _csrf: token, email, password: OPERATOR_PASSWORD });
  if (res.status !== 303) throw new Error(`sign-in answered ${res.status}: ${res.text.slice(0, 300)}`);
  return {
    email,
    agent,
    token,
    post(path: string, form: Record<string, string> = {}) {
      return agent.post(path).type('form').send({ _csrf: token, ...form });
    },
  };
}

export function csrfTokenOf(html: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error('no CSRF token on the page');
  return token;
}

export function cookieOf(res: { headers: Record<string, unknown> }, name: string): string | undefined {
  const cookies = (res.headers['set-cookie'] as string[] | undefined) ?? [];
  return cookies.find((c) => c.startsWith(`${name}=`));
}

/**
 * At a test file's top level: the app on the file's test database (a fake Alipay) and an operator
 * signed in to it, both made before the file's tests. Members are valid inside tests and hooks.
 */
export function useSignedInConsole(t: TestDatabase) {
  const made = {} as { app: ReturnType<typeof buildApp>; op: Awaited<ReturnType<typeof signedInOperator>> };
  beforeAll(async () => {
    made.app = buildApp(t.db, { payments: fakePayments(new FakeAlipayApi()) });
    made.op = await signedInOperator(made.app, t.db);
  });
  return made;
}
