import path from 'node:path';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { MediaLibrary } from '../shop/goods-images.js';
import { processImage } from './images.js';
import { createLocalStore } from './local-store.js';
import { createS3Store } from './s3-store.js';
import type { MediaStore } from './store.js';

export type { MediaStore } from './store.js';

/** The store chosen by MEDIA_STORAGE: the local disk (default) or an S3-compatible bucket. */
export function createMediaStore(config: Pick<Config, 'dataDir' | 'media'>): MediaStore {
  const m = config.media;
  if (m.storage === 's3' && m.s3) return createS3Store({ ...m.s3, publicBaseUrl: m.publicBaseUrl });
  return createLocalStore(path.join(config.dataDir, 'media'));
}

export function createMediaLibrary(store: MediaStore): MediaLibrary {
  return {
    process: processImage,
    put: (key, bytes) => store.put(key, bytes),
    delete: (key) => store.delete(key),
    url: (key) => store.url(key),
  };
}

/** Every object key the catalog references (originals and variants). */
export async function* referencedMediaKeys(db: Db): AsyncGenerator<string> {
  let after = 0;
  for (;;) {
    const rows = await db.goodsImage.findMany({ where: { id: { gt: after } }, orderBy: { id: 'asc' }, take: 500 });
    if (rows.length === 0) return;
    for (const row of rows) {
      yield row.originalKey;
      for (const v of row.variants as { key: string }[]) yield v.key;
    }
    after = rows.at(-1)!.id;
  }
}

/** Copies every referenced object that `to` lacks from `from`; safe to run again after an interruption. */
export async function copyMedia(db: Db, from: MediaStore, to: MediaStore, onProgress?: (key: string, copied: boolean) => void) {
  const result = { copied: 0, present: 0, missing: [] as string[] };
  const seen = new Set<string>();
  for await (const key of referencedMediaKeys(db)) {
    if (seen.has(key)) continue;
    seen.add(key);
    if (await to.exists(key)) {
      result.present++;
      onProgress?.(key, false);
      continue;
    }
    const object = await from.get(key);
    if (!object) {
      result.missing.push(key);
      continue;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of object.body) chunks.push(chunk as Buffer);
    await to.put(key, Buffer.concat(chunks));
    result.copied++;
    onProgress?.(key, true);
  }
  return result;
}
