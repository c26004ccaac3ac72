import type { Readable } from 'node:stream';

/** Keys are the SHA-256 of the object's bytes plus its extension: immutable, shareable, cacheable forever. */
export const MEDIA_KEY = /^[0-9a-f]{64}\.(?:webp|jpg|png|gif)$/;

export const CONTENT_TYPES: Record<string, string> = {
  webp: 'image/webp',
  jpg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
};

export function contentTypeOf(key: string): string {
  return CONTENT_TYPES[key.slice(key.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
}

export const IMMUTABLE = 'public, max-age=31536000, immutable';

export interface StoredObject {
  body: Readable;
  contentType: string;
  size?: number;
}

/** Where media objects live: the local disk or an S3-compatible bucket. */
export interface MediaStore {
  readonly kind: 'local' | 's3';
  put(key: string, bytes: Buffer): Promise<void>;
  get(key: string): Promise<StoredObject | null>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Where browsers fetch the object; the app's own /media/<key> when the store has no public URL. */
  url(key: string): string;
}
