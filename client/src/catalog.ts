import type { Bbox, RasterInfo } from './api.ts';

/** True when two WGS84 boxes describe the same extent (within about a pixel of a metre-scale raster). */
export function sameExtent(a: Bbox | null, b: Bbox | null, tolDeg = 2e-4): boolean {
  if (!a || !b) return false;
  return a.every((v, i) => Math.abs(v - b[i]) <= tolDeg);
}

/**
 * The canopy height model to show with a raster: the raster itself when it is a CHM, else the CHM
 * derived from it, else a CHM registered over the same extent (a lidar CHM beside its orthophoto).
 */
export function chmFor(raster: RasterInfo, all: RasterInfo[]): RasterInfo | null {
  if (raster.role === 'chm') return raster;
  const chms = all.filter((r) => r.role === 'chm');
  return chms.find((r) => r.sourceId === raster.id) ?? chms.find((r) => sameExtent(r.bounds, raster.bounds)) ?? null;
}

/** The imagery to show under a CHM chosen directly: the image it came from, if known. */
export function imageFor(raster: RasterInfo, all: RasterInfo[]): RasterInfo {
  if (raster.role !== 'chm') return raster;
  return all.find((r) => r.id === raster.sourceId) ?? all.find((r) => r.role !== 'chm' && sameExtent(r.bounds, raster.bounds)) ?? raster;
}

/** The tile zoom at which one tile pixel matches the raster's ground sample distance (256 px tiles). */
export function nativeZoom(gsd: number | null, lat: number): number {
  if (!gsd || !(gsd > 0)) return 20;
  const z = Math.log2((40075016.686 * Math.cos((lat * Math.PI) / 180)) / (256 * gsd));
  return Math.max(0, Math.min(24, Math.ceil(z)));
}
