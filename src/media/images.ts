import { createHash } from 'node:crypto';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { InvalidRequestError } from '../shop/errors.js';

export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;
export const MAX_IMAGE_PIXELS = 40_000_000;
export const VARIANT_WIDTHS = [320, 1024] as const;

type Format = 'jpeg' | 'png' | 'webp' | 'gif';
const EXTENSIONS: Record<Format, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', gif: 'gif' };

// One libvips thread per image: resizing a 40-megapixel upload must leave a core for shoppers.
sharp.concurrency(1);

export interface MediaObject {
  key: string;
  bytes: Buffer;
  width: number;
  height: number;
}

export interface ProcessedImage {
  format: Format;
  /** The upload re-encoded in its own format without metadata (EXIF, GPS, ICC comments). */
  original: MediaObject;
  /** WebP, 320 and 1024 px wide (never enlarged). */
  variants: MediaObject[];
}

/** The format from the file's first bytes — never from its name or the browser's Content-Type. */
export function detectImageFormat(bytes: Buffer): Format | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP') return 'webp';
  const gif = bytes.subarray(0, 6).toString('latin1');
  if (gif === 'GIF87a' || gif === 'GIF89a') return 'gif';
  return null;
}

async function finish(image: Sharp, ext: string): Promise<MediaObject> {
  const { data, info } = await image.toBuffer({ resolveWithObject: true });
  return {
    key: `${createHash('sha256').update(data).digest('hex')}.${ext}`,
    bytes: data,
    width: info.width,
    height: info.pageHeight ?? info.height,
  };
}

/**
 * Checks an upload and makes what the shop stores: refuses anything that is not a JPEG, PNG, WebP
 * or GIF by its bytes, above 10 MB, or above 40 megapixels (decompression bombs are refused from
 * the header, before any pixel is decoded).
 */
export async function processImage(bytes: Buffer): Promise<ProcessedImage> {
  if (bytes.length > MAX_IMAGE_BYTES) throw new InvalidRequestError('This image is larger than 10 MB. Please upload a smaller file.');
  const format = detectImageFormat(bytes);
  if (!format) throw new InvalidRequestError('This file is not a JPEG, PNG, WebP or GIF image.');
  const animated = format === 'gif' || format === 'webp';
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { animated, limitInputPixels: false }).metadata();
  } catch {
    throw new InvalidRequestError('This image is damaged or incomplete and cannot be read.');
  }
  if (meta.format !== format || !meta.width || !meta.height) throw new InvalidRequestError('This file is not a readable JPEG, PNG, WebP or GIF image.');
  if (meta.width * meta.height > MAX_IMAGE_PIXELS) {
    throw new InvalidRequestError(`This image is ${meta.width}×${meta.height} pixels; images may have at most 40 megapixels.`);
  }
  try {
    // rotate() applies the EXIF orientation before the metadata is dropped (sharp keeps none by default).
    const base = sharp(bytes, { animated, limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'error' }).rotate();
    const encoders: Record<Format, (s: Sharp) => Sharp> = {
      jpeg: (s) => s.jpeg({ quality: 88, mozjpeg: true }),
      png: (s) => s.png({ compressionLevel: 8 }),
      webp: (s) => s.webp({ quality: 88 }),
      gif: (s) => s.gif(),
    };
    const original = await finish(encoders[format](base.clone()), EXTENSIONS[format]);
    const variants = await Promise.all(
      VARIANT_WIDTHS.map((width) => finish(base.clone().resize({ width, withoutEnlargement: true }).webp({ quality: 80 }), 'webp')),
    );
    return { format, original, variants };
  } catch (err) {
    if (err instanceof Error && /input|corrupt|premature|truncated|invalid|unsupported|vips/i.test(err.message)) {
      throw new InvalidRequestError('This image is damaged or incomplete and cannot be read.');
    }
    throw err;
  }
}
