import sharp from 'sharp';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { detectImageFormat, MAX_IMAGE_BYTES, processImage } from '../../../src/media/images.js';
import { InvalidRequestError } from '../../../src/shop/errors.js';
import { makeImage } from '../../support/images.js';

describe('the image pipeline', () => {
  it.each(['jpeg', 'png', 'webp', 'gif'] as const)('accepts %s, re-encodes it and makes 320 and 1024 px WebP variants', { timeout: 60_000 }, async (format) => {
    const bytes = await makeImage(format, 1600, 1200);
    expect(detectImageFormat(bytes)).toBe(format);
    const image = await processImage(bytes);
    expect(image.format).toBe(format);
    expect(image.original).toMatchObject({ width: 1600, height: 1200 });
    expect(image.original.key).toMatch(new RegExp(`^[0-9a-f]{64}\\.${format === 'jpeg' ? 'jpg' : format}$`));
    expect(image.variants.map((v) => [v.width, v.height])).toEqual([
      [320, 240],
      [1024, 768],
    ]);
    for (const v of image.variants) {
      expect(v.key).toMatch(/^[0-9a-f]{64}\.webp$/);
      expect((await sharp(v.bytes).metadata()).format).toBe('webp');
    }
  });

  it('never enlarges a small picture, and the same bytes always give the same keys', async () => {
    const bytes = await makeImage('png', 200, 100);
    const a = await processImage(bytes);
    const b = await processImage(bytes);
    expect(a.variants.map((v) => v.width)).toEqual([200, 200]);
    expect(a.original.key).toBe(b.original.key);
  });

  it('removes EXIF and GPS data, applying the orientation first', async () => {
    const withExif = await sharp(await makeImage('jpeg', 400, 300))
      .withMetadata({ orientation: 6, exif: { IFD0: { Copyright: 'secret camera owner' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '31/1 14/1 0/1' } } })
      .jpeg()
      .toBuffer();
    expect((await sharp(withExif).metadata()).exif).toBeDefined();
    const image = await processImage(withExif);
    const meta = await sharp(image.original.bytes).metadata();
    expect(meta.exif).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
    expect([meta.width, meta.height]).toEqual([300, 400]);
    expect(image.original.bytes.includes(Buffer.from('secret camera owner'))).toBe(false);
  });

  it.each([
    ['a renamed executable', Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(4000, 1)])],
    ['a shell script called .jpg', Buffer.from('#!/bin/sh\necho pwned\n')],
    ['an SVG (scripts)', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')],
    ['a JPEG header with garbage after it', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 7)])],
  ])('refuses %s with a clear message', async (_name, bytes) => {
    await expect(processImage(bytes)).rejects.toThrow(InvalidRequestError);
    await expect(processImage(bytes)).rejects.toThrow(/not a (readable )?JPEG, PNG, WebP or GIF|damaged/);
  });

  it('refuses a file above 10 MB before looking at it', async () => {
    const big = Buffer.concat([await makeImage('png', 10, 10), Buffer.alloc(MAX_IMAGE_BYTES)]);
    await expect(processImage(big)).rejects.toThrow(/larger than 10 MB/);
  });

  it('refuses a decompression bomb (above 40 megapixels) from its header, without decoding it', async () => {
    // A few hundred bytes that claim 10,000 × 5,000 pixels of one colour.
    const bomb = pngClaiming(10_000, 5_000);
    expect(bomb.length).toBeLessThan(100_000);
    await expect(processImage(bomb)).rejects.toThrow(/10000×5000 pixels; images may have at most 40 megapixels/);
  });
});

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([head, body, crc]);
}

/** A valid PNG of `width` × `height` black pixels (8-bit grey), deflated to almost nothing. */
function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const rows = deflateSync(Buffer.alloc((width + 1) * height), { level: 9 });
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', rows), chunk('IEND', Buffer.alloc(0))]);
}
