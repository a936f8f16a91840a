/** PNG / WebP encoding of RGBA pixels: the only module that imports sharp. */
import sharp from 'sharp';

export type TileFormat = 'png' | 'webp';

export const CONTENT_TYPES: Record<TileFormat, string> = { png: 'image/png', webp: 'image/webp' };

// tiles are small and many; one libvips thread per call leaves the event loop's cores for requests
sharp.concurrency(1);
sharp.cache(false);

function fullyOpaque(rgba: Uint8Array): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return false;
  return true;
}

/**
 * Encode RGBA pixels. A fully opaque tile drops its alpha channel (smaller, faster); PNG uses
 * adaptive filtering at a moderate level, which shrinks photographic tiles by ~40% over none.
 */
export async function encodeRgba(rgba: Uint8Array, width: number, height: number, format: TileFormat): Promise<Buffer> {
  let img = sharp(Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength), { raw: { width, height, channels: 4 } });
  if (fullyOpaque(rgba)) img = img.removeAlpha();
  if (format === 'webp') return img.webp({ quality: 90, alphaQuality: 100, effort: 1 }).toBuffer();
  return img.png({ compressionLevel: 4, adaptiveFiltering: true, palette: false }).toBuffer();
}

/** Decode a PNG/WebP back to RGBA (tests and tooling). */
export async function decodeToRgba(data: Buffer): Promise<{ width: number; height: number; rgba: Uint8Array }> {
  const { data: raw, info } = await sharp(data).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, rgba: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) };
}
