import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { PROJECT_ROOT } from '../paths.js';

/** A raster picture (1200 px JPEG) of a sample goods, drawn from its SVG placeholder in public/. */
export async function drawSeedPicture(imagePath: string): Promise<Buffer | null> {
  if (!/^\/static\/goods\/[a-z-]+\.svg$/.test(imagePath)) return null;
  const svg = await readFile(path.join(PROJECT_ROOT, 'public', imagePath)).catch(() => null);
  if (!svg) return null;
  return sharp(svg, { density: 600 }).resize({ width: 1200 }).flatten({ background: '#ffffff' }).jpeg({ quality: 90 }).toBuffer();
}
