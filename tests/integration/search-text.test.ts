import { beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { FakeAlipayApi, fakePayments } from '../support/alipay.js';
import { signedInOperator } from '../support/admin.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

// Search boxes take any text a person can type; control characters (a NUL that PostgreSQL refuses
// in text) are refused with a 400 before any query, on the catalog, the order list and the export.

const t = useTestDatabase();
let app: ReturnType<typeof buildApp>;
let op: Awaited<ReturnType<typeof signedInOperator>>;

beforeAll(async () => {
  app = buildApp(t.db, { payments: fakePayments(new FakeAlipayApi()) });
  op = await signedInOperator(app, t.db);
});

describe('search text with control characters', () => {
  it('is refused on the catalog with a page that says why', async () => {
    const res = await request(app).get('/').query({ q: 'tea\u0000' }).expect(400);
    expect(res.text).toContain('control characters');
  });

  it.each(['/admin/orders', '/admin/orders.json', '/admin/orders.csv'])('is refused on %s before anything is sent', async (path) => {
    const res = await op.agent.get(path).query({ q: 'tea\u0000' }).set('Accept', path.endsWith('.json') ? 'application/json' : 'text/html').expect(400);
    expect(res.text).toContain('control characters');
  });

  it('other text, Chinese and symbols included, is searched', async () => {
    await request(app).get('/').query({ q: '龙井 %_\\ 茶' }).expect(200);
    await op.agent.get('/admin/orders.csv').query({ q: '龙井 %_\\ 茶' }).expect(200);
  });
});
