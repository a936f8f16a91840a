/**
 * The Web Mercator quad tile matrix set (XYZ / "GoogleMapsCompatible"): tile <-> metres <-> pixel.
 * The matrix set is plain data; the functions are pure arithmetic.
 */
import { Bounds } from './bounds.ts';

/** Half the width of the Web Mercator square, in metres. */
export const ORIGIN_SHIFT = Math.PI * 6378137;
export const MAX_ZOOM = 30;

export interface TileXyz {
  z: number;
  x: number;
  y: number;
}

/** Metres per pixel at a zoom for tiles of tileSize pixels. */
export function resolutionAt(z: number, tileSize = 256): number {
  return (2 * ORIGIN_SHIFT) / (tileSize * 2 ** z);
}

/** The zoom whose resolution is closest to (not coarser than) `resolution` metres per pixel. */
export function zoomForResolution(resolution: number, tileSize = 256, maxZoom = MAX_ZOOM): number {
  const z = Math.ceil(Math.log2((2 * ORIGIN_SHIFT) / (tileSize * resolution)) - 1e-9);
  return Math.max(0, Math.min(maxZoom, z));
}

/** The tile's extent in EPSG:3857 metres. */
export function tileBounds({ z, x, y }: TileXyz): Bounds {
  const size = (2 * ORIGIN_SHIFT) / 2 ** z;
  const minX = -ORIGIN_SHIFT + x * size;
  const maxY = ORIGIN_SHIFT - y * size;
  return new Bounds(minX, maxY - size, minX + size, maxY);
}

export function isValidTile({ z, x, y }: TileXyz): boolean {
  if (!Number.isInteger(z) || !Number.isInteger(x) || !Number.isInteger(y)) return false;
  if (z < 0 || z > MAX_ZOOM) return false;
  const n = 2 ** z;
  return x >= 0 && x < n && y >= 0 && y < n;
}

/** Web Mercator metres to global pixel coordinates at zoom z (origin top-left). */
export function metresToPixel(mx: number, my: number, z: number, tileSize = 256): [number, number] {
  const res = resolutionAt(z, tileSize);
  return [(mx + ORIGIN_SHIFT) / res, (ORIGIN_SHIFT - my) / res];
}

export function pixelToMetres(px: number, py: number, z: number, tileSize = 256): [number, number] {
  const res = resolutionAt(z, tileSize);
  return [px * res - ORIGIN_SHIFT, ORIGIN_SHIFT - py * res];
}

/** The tile holding a point in Web Mercator metres. */
export function tileAt(mx: number, my: number, z: number): TileXyz {
  const n = 2 ** z;
  const [px, py] = metresToPixel(mx, my, z, 1);
  return { z, x: Math.min(n - 1, Math.max(0, Math.floor(px))), y: Math.min(n - 1, Math.max(0, Math.floor(py))) };
}

/** All tiles at zoom z covering a Web Mercator extent (inclusive ranges). */
export function tileRange(b: Bounds, z: number): { minX: number; minY: number; maxX: number; maxY: number } {
  const eps = 1e-9 * ORIGIN_SHIFT;
  const tl = tileAt(b.minX + eps, b.maxY - eps, z);
  const br = tileAt(b.maxX - eps, b.minY + eps, z);
  return { minX: tl.x, minY: tl.y, maxX: br.x, maxY: br.y };
}

/** WGS84 lon/lat to Web Mercator metres (spherical; latitude clamped to the square). */
export function lonLatToMercator(lon: number, lat: number): [number, number] {
  const clamped = Math.max(-85.05112877980659, Math.min(85.05112877980659, lat));
  return [(lon * ORIGIN_SHIFT) / 180, Math.log(Math.tan(((90 + clamped) * Math.PI) / 360)) * 6378137];
}

export function mercatorToLonLat(mx: number, my: number): [number, number] {
  return [(mx / ORIGIN_SHIFT) * 180, (Math.atan(Math.exp(my / 6378137)) * 360) / Math.PI - 90];
}
