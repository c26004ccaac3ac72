import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { seedGoods } from '../../src/shop/seed.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';

const t = useTestDatabase();
let app: ReturnType<typeof buildApp>;

beforeAll(async () => {
  await seedGoods(t.db);
  app = buildApp(t.db, { env: { CATALOG_CACHE_MS: '60000' } });
});

const csrfCookieOf = (res: request.Response) => ([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!).find((c) => c.startsWith('shop.csrf='))!;
const tokenOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

describe('the cached catalog page', () => {
  it('carries each visitor\'s own form token, and answers a revalidation with 304 only for the same page and visitor', async () => {
    const first = await request(app).get('/').expect(200);
    const a = csrfCookieOf(first);
    const second = await request(app).get('/').expect(200);
    const b = csrfCookieOf(second);
    expect(a).not.toBe(b);

    const pageA = await request(app).get('/').set('Cookie', a).expect(200);
    const pageB = await request(app).get('/').set('Cookie', b).expect(200);
    expect(tokenOf(pageA.text)).not.toBe(tokenOf(pageB.text));
    expect(pageA.text.replaceAll(tokenOf(pageA.text), 'T')).toBe(pageB.text.replaceAll(tokenOf(pageB.text), 'T'));
    expect(pageA.headers.etag).toBeDefined();
    expect(pageA.headers.etag).not.toBe(pageB.headers.etag);

    await request(app).get('/').set('Cookie', a).set('If-None-Match', pageA.headers.etag!).expect(304);
    const other = await request(app).get('/').set('Cookie', b).set('If-None-Match', pageA.headers.etag!).expect(200);
    expect(tokenOf(other.text)).toBe(tokenOf(pageB.text));
    await request(app).get('/').query({ q: 'tea' }).set('Cookie', a).set('If-None-Match', pageA.headers.etag!).expect(200);

    // The token works: the page's form is accepted with the visitor's cookie.
    const goodsId = /name="goodsId" value="(\d+)"/.exec(pageA.text)![1]!;
    await request(app).post('/orders').set('Cookie', a).type('form').send({ _csrf: tokenOf(pageA.text), goodsId, quantity: '1' }).expect(303);
  });
});
