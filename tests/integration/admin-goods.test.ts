import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLocalStore } from '../../src/media/local-store.js';
import type { MediaStore } from '../../src/media/store.js';
import { placeOrder } from '../../src/shop/orders.js';
import { signedInOperator } from '../support/admin.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';
import { makeImage } from '../support/images.js';
import { shopper } from '../support/shopper.js';

const t = useTestDatabase();
let app: ReturnType<typeof buildApp>;
let store: MediaStore;

beforeAll(async () => {
  store = createLocalStore(path.join(await mkdtemp(path.join(os.tmpdir(), 'admin-goods-')), 'media'));
  app = buildApp(t.db, { media: store, env: { TRUST_PROXY: 'true' } });
});

let n = 0;
const goodsForm = (over: Record<string, string> = {}) => ({ name: `茶壶 Teapot ${++n}`, price: '88.00', description: '紫砂。\nHandmade <b>clay</b>.', active: 'on', ...over });

async function createdGoods(op: Awaited<ReturnType<typeof signedInOperator>>, over: Record<string, string> = {}) {
  const res = await op.post('/admin/goods', goodsForm(over)).expect(303);
  return Number(/\/admin\/goods\/(\d+)$/.exec(res.headers.location!)![1]);
}

function upload(op: Awaited<ReturnType<typeof signedInOperator>>, goodsId: number, bytes: Buffer, filename = 'photo.jpg', contentType = 'image/jpeg') {
  return op.agent.post(`/admin/goods/${goodsId}/images?_csrf=${encodeURIComponent(op.token)}`).attach('image', bytes, { filename, contentType });
}

describe('managing the catalog', () => {
  it('creates a goods, shows it in the catalog, records who did it, and renders the description as escaped text', async () => {
    const op = await signedInOperator(app, t.db);
    const id = await createdGoods(op, { name: '紫砂壶 Clay teapot', price: '12.30' });
    const goods = await t.db.goods.findUniqueOrThrow({ where: { id } });
    expect(goods).toMatchObject({ name: '紫砂壶 Clay teapot', priceFen: 1230, active: true, description: '紫砂。\nHandmade <b>clay</b>.' });
    const page = await request(app).get(`/goods/${id}`).expect(200);
    expect(page.text).toContain('Handmade &lt;b&gt;clay&lt;/b&gt;.');
    expect(page.text).toContain('¥12.30');
    const edit = await op.agent.get(`/admin/goods/${id}`).expect(200);
    expect(edit.text).toMatch(/goods-create.*?op\d+-\d+@shop\.test/s);
  });

  it.each([
    ['0.001', /at most two decimals/],
    ['-1', /at most two decimals/],
    ['1e3', /at most two decimals/],
    ['12.3.4', /at most two decimals/],
    ['1000000.01', /more than ¥1,000,000\.00/],
    ['0', /at least ¥0\.01/],
    ['', /at most two decimals/],
  ])('refuses the price "%s" with a message and changes nothing', async (price, message) => {
    const op = await signedInOperator(app, t.db);
    const before = await t.db.goods.count();
    const res = await op.post('/admin/goods', goodsForm({ price })).set('Accept', 'application/json').expect(400);
    expect(res.body.error.message).toMatch(message);
    expect(await t.db.goods.count()).toBe(before);
  });

  it('refuses an empty, overlong or duplicate name', async () => {
    const op = await signedInOperator(app, t.db);
    await createdGoods(op, { name: 'Unique cup' });
    for (const [name, message] of [['', /1 to 200 characters/], ['x'.repeat(201), /1 to 200 characters/], ['Unique cup', /already a goods named/]] as const) {
      const res = await op.post('/admin/goods', goodsForm({ name })).set('Accept', 'application/json').expect(400);
      expect(res.body.error.message).toMatch(message);
    }
  });

  it('a price change keeps existing orders as they were and records before and after', async () => {
    const op = await signedInOperator(app, t.db);
    const id = await createdGoods(op, { price: '10.00' });
    const order = await placeOrder(t.db, { lines: [{ goodsId: id, quantity: 2 }], ttlMinutes: 30 });
    await op.post(`/admin/goods/${id}`, goodsForm({ name: (await t.db.goods.findUniqueOrThrow({ where: { id } })).name, price: '15.50' })).expect(303);
    expect(await t.db.order.findUniqueOrThrow({ where: { id: order.id }, include: { items: true } })).toMatchObject({ totalFen: 2000, items: [{ unitPriceFen: 1000 }] });
    expect((await t.db.goods.findUniqueOrThrow({ where: { id } })).priceFen).toBe(1550);
    const history = await op.agent.get(`/admin/goods/${id}`).set('Accept', 'application/json').expect(200);
    expect(history.body.history[0]).toMatchObject({ action: 'goods-update', outcome: 'price', detail: JSON.stringify({ before: { price: '10.00' }, after: { price: '15.50' } }) });
    expect((await request(app).get('/').expect(200)).text).toContain('¥15.50');
  });

  it('deactivated goods leave the catalog, cannot be bought, and are taken out of carts at checkout with a message', async () => {
    const op = await signedInOperator(app, t.db);
    const id = await createdGoods(op, { name: 'Soon gone', price: '5.00' });
    const s = await shopper(app);
    await s.post('/cart/items', { goodsId: String(id), quantity: '1' }).expect(303);
    await op.post(`/admin/goods/${id}`, goodsForm({ name: 'Soon gone', price: '5.00', active: '' })).expect(303);
    expect((await request(app).get('/').expect(200)).text).not.toContain('Soon gone');
    await request(app).get(`/goods/${id}`).expect(404);
    const before = await t.db.order.count();
    const res = await s.post('/cart/checkout').set('Accept', 'application/json').expect(409);
    expect(res.body.error.message).toMatch(/no longer sold.*Soon gone/);
    expect(await t.db.order.count()).toBe(before);
    expect((await s.agent.get('/cart').expect(200)).text).not.toContain('Soon gone');
    await s.post('/orders', { goodsId: String(id), quantity: '1' }).expect(400);
  });
});

describe('pictures', () => {
  it('uploads each accepted format by its bytes, strips EXIF, makes variants, and the catalog uses srcset', { timeout: 120_000 }, async () => {
    const op = await signedInOperator(app, t.db);
    const id = await createdGoods(op);
    const jpegWithGps = await sharp(await makeImage('jpeg', 900, 600)).withMetadata({ exif: { IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '31/1 14/1 0/1' } } }).jpeg().toBuffer();
    await upload(op, id, jpegWithGps).expect(303);
    await upload(op, id, await makeImage('png', 400, 300), 'x.png', 'image/png').expect(303);
    await upload(op, id, await makeImage('webp', 400, 300), 'x.webp', 'application/octet-stream').expect(303);
    await upload(op, id, await makeImage('gif', 200, 150), 'x.gif', 'image/gif').expect(303);
    const rows = await t.db.goodsImage.findMany({ where: { goodsId: id }, orderBy: { position: 'asc' } });
    expect(rows.map((r) => r.format)).toEqual(['jpeg', 'png', 'webp', 'gif']);
    const original = await store.get(rows[0]!.originalKey);
    const chunks: Buffer[] = [];
    for await (const c of original!.body) chunks.push(c as Buffer);
    expect((await sharp(Buffer.concat(chunks)).metadata()).exif).toBeUndefined();
    const catalog = await request(app).get('/').expect(200);
    expect(catalog.text).toMatch(/srcset="\/media\/[0-9a-f]{64}\.webp 320w, \/media\/[0-9a-f]{64}\.webp 900w"/);
    const detail = await request(app).get(`/goods/${id}`).expect(200);
    expect(detail.text.match(/<img /g)?.length).toBe(4);
    const edit = await op.agent.get(`/admin/goods/${id}`).set('Accept', 'application/json').expect(200);
    expect(edit.body.history.filter((h: { action: string }) => h.action === 'image-add')).toHaveLength(4);
  });

  it.each([
    ['a renamed executable', Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(1000, 2)]), /not a JPEG, PNG, WebP or GIF/, 400],
    ['a file above 10 MB', Buffer.alloc(10 * 1024 * 1024 + 10, 0xff), /larger than 10 MB/, 413],
  ])('refuses %s and stores nothing', { timeout: 60_000 }, async (_name, bytes, message, status) => {
    const op = await signedInOperator(app, t.db);
    const id = await createdGoods(op);
    const res = await upload(op, id, bytes).set('Accept', 'application/json');
    expect(res.status).toBe(status);
    expect(res.body.error.message).toMatch(message);
    expect(await t.db.goodsImage.count({ where: { goodsId: id } })).toBe(0);
  });

  it('reorders, chooses the cover and deletes; every change needs an admin and the CSRF token', { timeout: 60_000 }, async () => {
    const op = await signedInOperator(app, t.db);
    const id = await createdGoods(op);
    await upload(op, id, await makeImage('png', 301, 200), 'a.png', 'image/png').expect(303);
    await upload(op, id, await makeImage('png', 302, 200), 'b.png', 'image/png').expect(303);
    const [a, b] = await t.db.goodsImage.findMany({ where: { goodsId: id }, orderBy: { position: 'asc' } });
    await op.post(`/admin/goods/${id}/images/${b!.id}/cover`).expect(303);
    expect((await t.db.goodsImage.findMany({ where: { goodsId: id }, orderBy: { position: 'asc' } })).map((r) => r.id)).toEqual([b!.id, a!.id]);
    await op.post(`/admin/goods/${id}/images/order`, { order: `${a!.id},${b!.id}` }).expect(303);
    await op.post(`/admin/goods/${id}/images/order`, { order: `${a!.id}` }).expect(400);

    const viewer = await signedInOperator(app, t.db, { role: 'viewer' });
    await viewer.post(`/admin/goods/${id}/images/${a!.id}/delete`).expect(403);
    await upload(viewer, id, await makeImage('png', 50, 50), 'c.png', 'image/png').expect(403);
    await op.agent.post(`/admin/goods/${id}/images`).attach('image', await makeImage('png', 50, 50), { filename: 'c.png', contentType: 'image/png' }).expect(403);
    await op.agent.post(`/admin/goods/${id}/images/${a!.id}/delete`).type('form').send({}).expect(403);
    expect(await t.db.goodsImage.count({ where: { goodsId: id } })).toBe(2);

    await op.post(`/admin/goods/${id}/images/${a!.id}/delete`).expect(303);
    expect(await t.db.goodsImage.count({ where: { goodsId: id } })).toBe(1);
    expect(await store.exists(a!.originalKey)).toBe(false);
  });
});
