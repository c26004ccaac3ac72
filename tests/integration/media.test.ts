import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { copyMedia, createMediaLibrary, type MediaStore } from '../../src/media/index.js';
import { createLocalStore } from '../../src/media/local-store.js';
import { createS3Store } from '../../src/media/s3-store.js';
import { addGoodsImage, listGoodsImages, MAX_IMAGES_PER_GOODS, removeGoodsImage, reorderGoodsImages, setGoodsCover } from '../../src/shop/goods-images.js';
import { buildApp } from '../support/app.js';
import { useTestDatabase } from '../support/db.js';
import { makeImage } from '../support/images.js';
import { useS3Server } from '../support/s3.js';

const t = useTestDatabase();
const s3 = useS3Server();
let jpeg: Buffer;
let png: Buffer;

beforeAll(async () => {
  jpeg = await makeImage('jpeg', 1200, 900);
  png = await makeImage('png', 640, 480);
}, 60_000);

async function readAll(store: MediaStore, key: string): Promise<Buffer | null> {
  const object = await store.get(key);
  if (!object) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of object.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const newGoods = (name: string) => t.db.goods.create({ data: { name: `${name} ${Math.random()}`, priceFen: 1_000 } });

describe.each([
  ['the local disk', async () => createLocalStore(path.join(await mkdtemp(path.join(os.tmpdir(), 'media-')), 'media'))],
  ['an S3-compatible server (s3rver)', async () => createS3Store(s3.settings)],
])('goods pictures on %s', (_name, makeStore) => {
  it('stores the original and its variants byte for byte, serves them immutable, and lists the cover first', { timeout: 60_000 }, async () => {
    const store = await makeStore();
    const deps = { db: t.db, media: createMediaLibrary(store) };
    const goods = await newGoods('Pictured');
    const first = await addGoodsImage(deps, goods.id, jpeg);
    const second = await addGoodsImage(deps, goods.id, png);
    const rows = await t.db.goodsImage.findMany({ where: { goodsId: goods.id }, orderBy: { position: 'asc' } });
    expect(rows.map((r) => r.id)).toEqual([first.id, second.id]);
    for (const row of rows) {
      for (const v of [{ key: row.originalKey }, ...(row.variants as { key: string }[])]) {
        const bytes = await readAll(store, v.key);
        expect(bytes).not.toBeNull();
        // Content-addressed: the key is the hash of exactly what was stored.
        const { createHash } = await import('node:crypto');
        expect(`${createHash('sha256').update(bytes!).digest('hex')}${v.key.slice(64)}`).toBe(v.key);
      }
    }

    const app = buildApp(t.db, { media: store });
    const page = await request(app).get('/').expect(200);
    expect(page.text).toMatch(new RegExp(`srcset="${first.srcset.replaceAll('/', '\\/').replaceAll('.', '\\.')}"`));
    expect(page.text).toMatch(/loading="lazy"/);
    const key = first.thumb.url.slice('/media/'.length);
    const img = await request(app).get(`/media/${key}`).expect(200);
    expect(img.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(img.headers['content-type']).toBe('image/webp');
    expect(Buffer.compare(img.body as Buffer, (await readAll(store, key))!)).toBe(0);
    await request(app).get('/media/../../etc/passwd').expect(404);
    await request(app).get(`/media/${'0'.repeat(64)}.webp`).expect(404);

    await setGoodsCover(deps, goods.id, second.id);
    expect((await listGoodsImages(deps, goods.id)).map((i) => i.id)).toEqual([second.id, first.id]);
    await reorderGoodsImages(deps, goods.id, [first.id, second.id]);
    expect((await listGoodsImages(deps, goods.id)).map((i) => i.id)).toEqual([first.id, second.id]);
    await expect(reorderGoodsImages(deps, goods.id, [first.id])).rejects.toThrow(/every image of this goods exactly once/);
  });

  it('deleting a picture removes only the objects nothing else references', { timeout: 60_000 }, async () => {
    const store = await makeStore();
    const deps = { db: t.db, media: createMediaLibrary(store) };
    const a = await newGoods('Shared A');
    const b = await newGoods('Shared B');
    // A picture no other test uses: the same bytes anywhere else would keep the objects alive.
    const shared = await makeImage('png', 300 + Math.floor(Math.random() * 300), 200);
    const onA = await addGoodsImage(deps, a.id, shared);
    const onB = await addGoodsImage(deps, b.id, shared);
    const row = await t.db.goodsImage.findUniqueOrThrow({ where: { id: onA.id } });
    const keys = [row.originalKey, ...(row.variants as { key: string }[]).map((v) => v.key)];
    await removeGoodsImage(deps, a.id, onA.id);
    for (const key of keys) expect(await store.exists(key)).toBe(true);
    await removeGoodsImage(deps, b.id, onB.id);
    for (const key of keys) expect(await store.exists(key)).toBe(false);
    await expect(removeGoodsImage(deps, b.id, onB.id)).rejects.toThrow(/does not exist/);
  });
});

describe('limits and moving to object storage', () => {
  it(`refuses a ${MAX_IMAGES_PER_GOODS + 1}th picture and anything that is not an image, storing nothing`, { timeout: 120_000 }, async () => {
    const store = createLocalStore(path.join(await mkdtemp(path.join(os.tmpdir(), 'media-')), 'media'));
    const deps = { db: t.db, media: createMediaLibrary(store) };
    const goods = await newGoods('Full');
    const small = await makeImage('png', 40, 30);
    for (let i = 0; i < MAX_IMAGES_PER_GOODS; i++) await addGoodsImage(deps, goods.id, small);
    await expect(addGoodsImage(deps, goods.id, small)).rejects.toThrow(/at most 8 images/);
    const other = await newGoods('Not an image');
    await expect(addGoodsImage(deps, other.id, Buffer.from('MZ\x90\x00 renamed.exe'))).rejects.toThrow(/not a JPEG, PNG, WebP or GIF/);
    expect(await t.db.goodsImage.count({ where: { goodsId: other.id } })).toBe(0);
  });

  it('copies every referenced object from the disk to the bucket, and a second run copies nothing', { timeout: 60_000 }, async () => {
    const local = createLocalStore(path.join(await mkdtemp(path.join(os.tmpdir(), 'media-')), 'media'));
    const bucket = createS3Store(s3.settings);
    await t.db.goodsImage.deleteMany();
    const goods = await newGoods('Moving');
    const fresh = await makeImage('jpeg', 500 + Math.floor(Math.random() * 300), 300);
    await addGoodsImage({ db: t.db, media: createMediaLibrary(local) }, goods.id, fresh);
    const first = await copyMedia(t.db, local, bucket);
    expect(first).toEqual({ copied: 3, present: 0, missing: [] });
    const row = await t.db.goodsImage.findFirstOrThrow({ where: { goodsId: goods.id } });
    expect(Buffer.compare((await readAll(bucket, row.originalKey))!, (await readAll(local, row.originalKey))!)).toBe(0);
    expect(await copyMedia(t.db, local, bucket)).toEqual({ copied: 0, present: 3, missing: [] });
  });
});

describe('npm run media -- migrate --to s3', () => {
  function migrate(env: Record<string, string>): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', path.resolve('src/cli/media.ts'), 'migrate', '--to', 's3'],
        { env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: t.url, ...env }, timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
      );
    });
  }

  it('copies the pictures from DATA_DIR/media to the bucket, says what it did, and is safe to run again', { timeout: 120_000 }, async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'media-cli-'));
    await t.db.goodsImage.deleteMany();
    const goods = await newGoods('Migrated');
    await addGoodsImage({ db: t.db, media: createMediaLibrary(createLocalStore(path.join(dataDir, 'media'))) }, goods.id, await makeImage('png', 333 + Math.floor(Math.random() * 100), 222));
    const s = s3.settings;
    const env = { DATA_DIR: dataDir, MEDIA_S3_BUCKET: s.bucket, MEDIA_S3_REGION: s.region, MEDIA_S3_ENDPOINT: s.endpoint!, MEDIA_S3_ACCESS_KEY_ID: 'S3RVER', MEDIA_S3_SECRET_ACCESS_KEY: 'S3RVER', MEDIA_S3_FORCE_PATH_STYLE: 'true' };
    const first = await migrate(env);
    expect(first).toMatchObject({ code: 0 });
    expect(first.out).toContain('3 copied, 0 already in the bucket, 0 missing locally');
    const second = await migrate(env);
    expect(second.out).toContain('0 copied, 3 already in the bucket');
    const row = await t.db.goodsImage.findFirstOrThrow({ where: { goodsId: goods.id } });
    expect(await createS3Store(s).exists(row.originalKey)).toBe(true);
    const unset = await migrate({ DATA_DIR: dataDir });
    expect(unset.code).toBe(1);
    expect(unset.out).toMatch(/needs MEDIA_S3_BUCKET and MEDIA_S3_REGION/);
  });
});
