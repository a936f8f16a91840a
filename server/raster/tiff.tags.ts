/**
 * Reading a GeoTIFF's tags (geotiff.js loads some lazily), the check that an image's blocks lie
 * inside its file, and the refusal every check of a file gives: an UnreadableRasterError naming
 * the file and the reason.
 */
import { basename } from 'node:path';
import type { GeoTIFFImage } from 'geotiff';
import { UnreadableRasterError } from '../errors.ts';

export function unreadable(path: string, reason: string, err?: unknown): UnreadableRasterError {
  const why = err instanceof Error ? `: ${err.message}` : '';
  return new UnreadableRasterError(`${basename(path)}: ${reason}${why}`, { reason });
}

/** A tag's value, loaded when geotiff.js deferred it; undefined when the image lacks the tag. */
export async function tag<T = any>(image: GeoTIFFImage, name: string): Promise<T | undefined> {
  const fd = image.getFileDirectory();
  if (!fd.hasTag(name as any)) return undefined;
  return (await fd.loadValue(name as any)) as T;
}

/** The first value of a tag that may hold one number or several. */
export function first(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  const a = v as ArrayLike<number>;
  return a.length ? Number(a[0]) : undefined;
}

/** Each strip/tile must lie inside the file: a truncated upload fails here, not at the first tile. */
export async function checkNotTruncated(image: GeoTIFFImage, fileSize: number, path: string): Promise<void> {
  const tiled = image.getFileDirectory().hasTag('TileWidth' as any);
  const offsets = await tag<ArrayLike<number>>(image, tiled ? 'TileOffsets' : 'StripOffsets');
  const counts = await tag<ArrayLike<number>>(image, tiled ? 'TileByteCounts' : 'StripByteCounts');
  if (!offsets || !counts) throw unreadable(path, 'missing strip/tile offsets');
  for (let i = 0; i < offsets.length; i++) {
    const end = Number(offsets[i]) + Number(counts[i] ?? 0);
    if (Number(counts[i]) > 0 && end > fileSize) throw unreadable(path, `truncated file (block ${i} ends at byte ${end}, file has ${fileSize})`);
  }
}
