/**
 * Georeferencing kept beside a TIFF rather than in it: an ESRI world file (.tfw: six numbers) and a
 * .prj (the CRS as WKT, read by crs.from.wkt.ts) or an .aux.xml holding it (pam.ts), as ArcGIS, GDAL and
 * older orthophoto deliveries write them. GDAL reads the world file of a TIFF without GeoKeys; so
 * do we. The world file's parsing is pure; the lookups beside a file follow it.
 */
import { existsSync } from 'node:fs';
import type { Affine } from './types.ts';

/**
 * A world file's transform: lines A (x pixel size), D, B (rotation terms), E (y pixel size), C, F
 * (the centre of the top-left pixel), as the GDAL affine of the top-left corner.
 */
export function parseWorldFile(text: string): Affine {
  const values = text.trim().split(/\s+/).map(Number);
  if (values.length !== 6 || !values.every(Number.isFinite)) throw new Error('a world file holds six numbers, one per line');
  const [a, d, b, e, c, f] = values;
  if (a * e - b * d === 0) throw new Error('its pixel size is zero');
  return [c - a / 2 - b / 2, a, b, f - d / 2 - e / 2, d, e];
}

/** The path without its extension. */
const stemOf = (path: string) => path.replace(/\.[^./\\]*$/, '');

/** The world file beside a raster (the names GDAL tries, lower or upper case), or null. */
export function worldFileOf(path: string): string | null {
  const stem = stemOf(path), ext = path.slice(stem.length);
  // GDAL's order: the extension's first and last letters and a "w" (.tif: .tfw; .jpg: .jgw), the
  // extension and a "w", then .wld
  const names = [`${ext.slice(0, 2)}${ext.slice(-1)}w`, `${ext}w`, '.wld'];
  for (const n of names) for (const e of [n.toLowerCase(), n.toUpperCase()]) if (existsSync(stem + e)) return stem + e;
  return null;
}

/** The .prj beside a raster, or null. */
export function prjOf(path: string): string | null {
  const stem = stemOf(path);
  for (const e of ['.prj', '.PRJ']) if (existsSync(stem + e)) return stem + e;
  return null;
}
