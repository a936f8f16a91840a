/**
 * GDAL's masks of a GeoTIFF (0 = no data): mask images inside the file or its .ovr, and the
 * external <file>.msk and <file>.msk.ovr, each given to the resolution level of its size.
 */
import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { fromFile, type GeoTIFF, type GeoTIFFImage } from 'geotiff';
import { UnreadableRasterError } from '../errors.ts';
import { decodable } from './metadata.ts';
import { checkNotTruncated, first, tag, unreadable } from './tiff.tags.ts';

/** What a mask is given to: a resolution level of the image, by its size. */
export interface MaskedLevel {
  width: number;
  height: number;
  mask: GeoTIFFImage | null;
}

/**
 * Gives each mask image to the level of its size that has none yet, all or none: every match is
 * checked before any is given. A mask is one or more samples of 1 or 8 unsigned bits (GDAL writes
 * them so; 0 = no data); `file` names it in refusals.
 */
export async function assignMasks(masks: GeoTIFFImage[], levels: MaskedLevel[], fileSize: number, file: string): Promise<void> {
  const matched: Array<[MaskedLevel, GeoTIFFImage]> = [];
  for (const m of masks) {
    const level = levels.find((l) => l.width === m.getWidth() && l.height === m.getHeight() && !l.mask && !matched.some(([t]) => t === l));
    if (!level) continue;
    const bits = Number(first(await tag(m, 'BitsPerSample')) ?? 1), format = Number(first(await tag(m, 'SampleFormat')) ?? 1);
    if ((bits !== 1 && bits !== 8) || format !== 1) throw unreadable(file, `its mask is not of 1 or 8 unsigned bits (${bits} bits, sample format ${format})`);
    if (!decodable(Number(first(await tag(m, 'Compression')) ?? 1))) throw unreadable(file, 'its mask is compressed with a codec this reader lacks');
    await checkNotTruncated(m, fileSize, file);
    matched.push([level, m]);
  }
  for (const [level, m] of matched) level.mask = m;
}

/**
 * GDAL's external mask of a TIFF without an internal one: <file>.msk holds the full resolution's
 * (and its overviews' when they were built there), <file>.msk.ovr the masks of the .ovr's levels.
 * A .msk that cannot be read refuses the raster, since GDAL would mask by it: reading the image
 * unmasked would send its no-data areas through the model. A broken .msk.ovr only costs speed (the
 * overviews' masks are then sampled from the full resolution). Returns the files it keeps open.
 */
export async function externalMasks(path: string, levels: MaskedLevel[]): Promise<GeoTIFF[]> {
  const mskPath = `${path}.msk`;
  if (!existsSync(mskPath)) return [];
  const opened: GeoTIFF[] = [];
  const imagesOf = async (file: string): Promise<GeoTIFFImage[]> => {
    const t = await fromFile(file);
    opened.push(t);
    const images: GeoTIFFImage[] = [];
    for (let i = 0; i < await t.getImageCount(); i++) images.push(await t.getImage(i));
    return images;
  };
  try {
    try {
      await assignMasks(await imagesOf(mskPath), levels, statSync(mskPath).size, mskPath);
    } catch (err) {
      throw err instanceof UnreadableRasterError ? err : unreadable(mskPath, 'cannot read the mask file', err);
    }
    if (!levels[0].mask) throw unreadable(mskPath, `it holds no ${levels[0].width}x${levels[0].height} mask for the image`);
    const mskOvr = `${mskPath}.ovr`;
    if (levels.some((l) => !l.mask) && existsSync(mskOvr)) {
      try {
        await assignMasks(await imagesOf(mskOvr), levels, statSync(mskOvr).size, mskOvr);
      } catch (err) {
        console.warn(`[raster] ${basename(mskOvr)} not used: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return opened;
  } catch (err) {
    await Promise.all(opened.map((t) => Promise.resolve(t.close()).catch(() => undefined)));
    throw err;
  }
}
