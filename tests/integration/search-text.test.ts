import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { useSignedInConsole } from '../support/admin.js';
import { useTestDatabase } from '../support/db.js';

// Search boxes take any text a person can type; control characters (a NUL that PostgreSQL refuses
// in text) are refused with a 400 before any query, on the catalog, the order list and the export.

const t = useTestDatabase();
const c = useSignedInConsole(t);

describe('search text with control characters', () => {
  it('is refused on the catalog with a page that says why', async () => {
    const res = await request(c.app).get('/').query({ q: 'tea\u0000' }).expect(400);
    expect(res.text).toContain('control characters');
  });

  it.each(['/admin/orders', '/admin/orders.json', '/admin/orders.csv'])('is refused on %s before anything is sent', async (path) => {
    const res = await c.op.agent.get(path).query({ q: 'tea\u0000' }).set('Accept', path.endsWith('.json') ? 'application/json' : 'text/html').expect(400);
    expect(res.text).toContain('control characters');
  });

  it('other text, Chinese and symbols included, is searched', async () => {
    await request(c.app).get('/').query({ q: '龙井 %_\\ 茶' }).expect(200);
    await c.op.agent.get('/admin/orders.csv').query({ q: '龙井 %_\\ 茶' }).expect(200);
  });
});
