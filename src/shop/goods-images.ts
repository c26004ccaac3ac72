import type { Db } from '../db/client.js';
import type { Prisma } from '../generated/prisma/client.js';
import { InvalidRequestError, NotFoundError } from './errors.js';

export const MAX_IMAGES_PER_GOODS = 8;

export interface ImageObject {
  key: string;
  bytes: Buffer;
  width: number;
  height: number;
}

/** The media store and image pipeline as the shop needs them (implemented in src/media/). */
export interface MediaLibrary {
  /** Checks an upload and makes its variants; throws InvalidRequestError for anything unacceptable. */
  process(bytes: Buffer): Promise<{ format: string; original: ImageObject; variants: ImageObject[] }>;
  put(key: string, bytes: Buffer): Promise<void>;
  delete(key: string): Promise<void>;
  url(key: string): string;
}

export interface ImageDeps {
  db: Db;
  media: MediaLibrary;
}

export interface ImageView {
  id: number;
  position: number;
  url: string;
  width: number;
  height: number;
  /** `src 320w, src 1024w` */
  srcset: string;
  /** The narrowest variant, for lists. */
  thumb: { url: string; width: number; height: number };
}

type Variant = { key: string; width: number; height: number };

// Uploads and deletions of objects take this lock, so a deletion that finds an object unreferenced
// cannot race an upload of the same bytes (keys are content hashes: two goods may share one).
const MEDIA_LOCK = 72_707_370;

async function lockMedia(tx: Prisma.TransactionClient) {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${MEDIA_LOCK})`;
}

export function presentImage(media: Pick<MediaLibrary, 'url'>, row: { id: number; position: number; originalKey: string; width: number; height: number; variants: unknown }): ImageView {
  const variants = row.variants as Variant[];
  const thumb = variants[0] ?? { key: row.originalKey, width: row.width, height: row.height };
  return {
    id: row.id,
    position: row.position,
    url: media.url(row.originalKey),
    width: row.width,
    height: row.height,
    srcset: variants.map((v) => `${media.url(v.key)} ${v.width}w`).join(', '),
    thumb: { url: media.url(thumb.key), width: thumb.width, height: thumb.height },
  };
}

export async function listGoodsImages(deps: { db: Db; media: Pick<MediaLibrary, 'url'> }, goodsId: number): Promise<ImageView[]> {
  const rows = await deps.db.goodsImage.findMany({ where: { goodsId }, orderBy: [{ position: 'asc' }, { id: 'asc' }] });
  return rows.map((row) => presentImage(deps.media, row));
}

/** Adds a picture (last position; the first one is the cover). At most 8 per goods. */
/** Written in the same transaction as the change (the "who did what" record). */
export type Audit = (tx: Prisma.TransactionClient, detail: string) => Promise<void>;

export async function addGoodsImage(deps: ImageDeps, goodsId: number, bytes: Buffer, audit?: Audit): Promise<ImageView> {
  const { db, media } = deps;
  const count = async (tx: Prisma.TransactionClient | Db) => tx.goodsImage.count({ where: { goodsId } });
  if (!(await db.goods.findUnique({ where: { id: goodsId }, select: { id: true } }))) throw new NotFoundError('There is no such goods.');
  const full = () => new InvalidRequestError(`A goods has at most ${MAX_IMAGES_PER_GOODS} images: delete one first.`);
  if ((await count(db)) >= MAX_IMAGES_PER_GOODS) throw full();
  const image = await media.process(bytes);
  const row = await db.$transaction(async (tx) => {
    await lockMedia(tx);
    await tx.$executeRaw`SELECT id FROM goods WHERE id = ${goodsId} FOR UPDATE`;
    const position = await count(tx);
    if (position >= MAX_IMAGES_PER_GOODS) throw full();
    for (const object of [image.original, ...image.variants]) await media.put(object.key, object.bytes);
    const created = await tx.goodsImage.create({
      data: {
        goodsId,
        position,
        format: image.format,
        originalKey: image.original.key,
        width: image.original.width,
        height: image.original.height,
        variants: image.variants.map(({ key, width, height }) => ({ key, width, height })),
      },
    });
    await audit?.(tx, `image ${created.id} (${created.width}×${created.height}), position ${position + 1}`);
    return created;
  });
  return presentImage(media, row);
}

/** Deletes a picture and every stored object nothing references any more. */
export async function removeGoodsImage(deps: ImageDeps, goodsId: number, imageId: number, audit?: Audit): Promise<void> {
  const { db, media } = deps;
  await db.$transaction(async (tx) => {
    await lockMedia(tx);
    const row = await tx.goodsImage.findFirst({ where: { id: imageId, goodsId } });
    if (!row) throw new NotFoundError('This image does not exist (any more).');
    await tx.goodsImage.delete({ where: { id: row.id } });
    await tx.$executeRaw`UPDATE goods_images SET position = position - 1 WHERE goods_id = ${goodsId} AND position > ${row.position}`;
    const keys = [row.originalKey, ...(row.variants as Variant[]).map((v) => v.key)];
    for (const key of keys) {
      const [ref] = await tx.$queryRaw<{ used: boolean }[]>`
        SELECT EXISTS (
          SELECT 1 FROM goods_images WHERE original_key = ${key} OR variants @> ${JSON.stringify([{ key }])}::jsonb
        ) AS used`;
      if (!ref?.used) await media.delete(key);
    }
    await audit?.(tx, `image ${imageId}`);
  });
}

/** Puts the images in the given order (every image of the goods, each once); the first is the cover. */
export async function reorderGoodsImages(deps: ImageDeps, goodsId: number, imageIds: number[], audit?: Audit): Promise<void> {
  await deps.db.$transaction(async (tx) => {
    const current = await tx.goodsImage.findMany({ where: { goodsId }, select: { id: true } });
    const ids = new Set(current.map((r) => r.id));
    if (imageIds.length !== ids.size || new Set(imageIds).size !== imageIds.length || !imageIds.every((id) => ids.has(id))) {
      throw new InvalidRequestError('The new order must list every image of this goods exactly once. Reload the page and try again.');
    }
    for (const [position, id] of imageIds.entries()) await tx.goodsImage.update({ where: { id }, data: { position } });
    await audit?.(tx, `order: ${imageIds.join(', ')}`);
  });
}

/** Makes one image the cover (first), keeping the others' order. */
export async function setGoodsCover(deps: ImageDeps, goodsId: number, imageId: number, audit?: Audit): Promise<void> {
  const rows = await deps.db.goodsImage.findMany({ where: { goodsId }, orderBy: [{ position: 'asc' }, { id: 'asc' }], select: { id: true } });
  if (!rows.some((r) => r.id === imageId)) throw new NotFoundError('This image does not exist (any more).');
  await reorderGoodsImages(deps, goodsId, [imageId, ...rows.map((r) => r.id).filter((id) => id !== imageId)], audit);
}
