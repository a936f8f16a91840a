/**
 * Plan, then execute: a tile request becomes a plain record saying which level of the raster to
 * read, which window of it, and how destination pixels map into that window, using bounds
 * arithmetic only. The executor (server/raster/tile.read.ts) fetches the pixels.
 */
import type { Affine, Crs, Window } from '../server/raster/types.ts';
import { Bounds } from './bounds.ts';
import { projector, WEB_MERCATOR } from './projection.ts';
import { mercatorToLonLat, tileBounds, type TileXyz } from './tile.matrix.set.ts';
import { approxTransform, type ApproxTransform } from './approx.transform.ts';

/** What the planner needs to know of a raster: its CRS and the grid of each level (0 = full res). */
export interface RasterLayout {
  crs: Crs;
  levels: ReadonlyArray<{ width: number; height: number; transform: Affine }>;
  /**
   * The raster's WGS84 bounds [west, south, east, north]. When given, tiles elsewhere on the globe
   * are rejected before any projection: far from its zone a projection can return finite nonsense
   * that would seem to overlap the raster.
   */
  wgs84Bounds?: readonly [number, number, number, number];
}

export interface TileReadPlan {
  tile: TileXyz;
  /** Output size in pixels (256, or 512 for @2x). */
  size: number;
  /** The tile's extent in EPSG:3857 metres. */
  bounds: Bounds;
  level: number;
  /** Source window in the level's pixels, clipped to the level, with room for the kernel. */
  window: Window;
  /** Output rectangles (covering every output pixel that can hold data) and the kernel stretch for each. */
  regions: KernelRegion[];
}

/** Destination pixel (col, row) of a tile -> level pixel coordinate, exactly (proj4). */
export function tilePixelTransform(layout: RasterLayout, tile: TileXyz, size: number, level: number): (px: number, py: number) => [number, number] {
  const b = tileBounds(tile);
  const res = b.width / size;
  const toSource = projector(WEB_MERCATOR, layout.crs);
  const t = layout.levels[level].transform;
  const det = t[1] * t[5] - t[2] * t[4];
  return (px, py) => {
    const [x, y] = toSource(b.minX + px * res, b.maxY - py * res);
    const dx = x - t[0], dy = y - t[3];
    return [(t[5] * dx - t[2] * dy) / det, (t[1] * dy - t[4] * dx) / det];
  };
}

const EDGE_STEPS = 20;

/** A rectangle of output pixels resampled with one kernel stretch (source pixels per output pixel). */
export interface KernelRegion {
  x: number;
  y: number;
  width: number;
  height: number;
  scale: [number, number];
}

type PixelFn = (px: number, py: number) => [number, number];

interface SourceWindow {
  /** Unclamped footprint extent in source pixels. */
  min: [number, number];
  max: [number, number];
  fill: number;
  scale: [number, number];
  empty: boolean;
}

/**
 * GDAL's (3.x) GDALWarpOperation::ComputeSourceWindow + GDALWarpKernel scale, for one axis set:
 * the footprint of an output rectangle (its edges sampled 21 times) in source pixels, clamped to
 * the raster, and the kernel stretch the warper derives from it. Reproduced so our tiles match
 * gdalwarp's within a DN; note it under-smooths where a rectangle only partly covers the raster.
 */
function sourceWindow(toPixel: PixelFn, x: number, y: number, w: number, h: number, rw: number, rh: number): SourceWindow {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let i = 0; i <= EDGE_STEPS; i++) {
    const f = i / EDGE_STEPS;
    for (const [px, py] of [[x + f * w, y], [x + f * w, y + h], [x, y + f * h], [x + w, y + f * h]]) {
      const [sx, sy] = toPixel(px, py);
      if (!Number.isFinite(sx) || !Number.isFinite(sy)) continue;
      minX = Math.min(minX, sx); maxX = Math.max(maxX, sx);
      minY = Math.min(minY, sy); maxY = Math.max(maxY, sy);
    }
  }
  const empty = !(minX <= rw && maxX >= 0 && minY <= rh && maxY >= 0) || !(maxX > minX && maxY > minY);
  if (empty) return { min: [minX, minY], max: [maxX, maxY], fill: 0, scale: [1, 1], empty: true };
  const axis = (min: number, max: number, n: number, dst: number) => {
    const unclamped = Math.max(1e-3, dst / (max - min));
    const radius = unclamped < 0.95 ? Math.ceil(1 / unclamped) : 1;
    const minC = Math.trunc(Math.max(0, min));
    const maxC = Math.min(Math.ceil(max), n);
    const raw = Math.max(0, Math.min(n - minC, max - min));
    let size: number;
    if (maxC - minC > 0.9 * n) size = n;
    else {
      const off = Math.max(0, Math.min(minC - radius, n));
      size = Math.max(0, Math.min(n - off, maxC - off + radius));
    }
    let dstPerSrc = raw > 0 ? dst / raw : 1;
    if (size >= dst && raw <= dst) dstPerSrc = 1;
    if (dstPerSrc < 1) {
      const recip = 1 / dstPerSrc, k = Math.round(recip);
      if (Math.abs(recip - k) < 0.05) dstPerSrc = 1 / k;
    }
    return { size, span: max - min + 2 * radius, scale: 1 / dstPerSrc, dstPerSrc };
  };
  const ax = axis(minX, maxX, rw, w), ay = axis(minY, maxY, rh, h);
  const fill = (ax.size * ay.size) / Math.max(1, ax.span * ay.span);
  // GDAL uses its 4-sample bilinear when neither axis is downsampled by more than ~5%
  const scale: [number, number] = ax.dstPerSrc >= 0.95 && ay.dstPerSrc >= 0.95 ? [1, 1] : [ax.scale, ay.scale];
  return { min: [minX, minY], max: [maxX, maxY], fill, scale, empty: false };
}

/** GDAL's chunking: halve the output (longer side first) while the source fill ratio is under 0.5. */
function kernelRegions(toPixel: PixelFn, x: number, y: number, w: number, h: number, rw: number, rh: number, out: KernelRegion[]): void {
  const win = sourceWindow(toPixel, x, y, w, h, rw, rh);
  if (win.fill > 0 && win.fill < 0.5 && (w > 100 || h > 100)) {
    if (w > h) {
      const a = Math.floor(w / 2);
      kernelRegions(toPixel, x, y, a, h, rw, rh, out);
      kernelRegions(toPixel, x + a, y, w - a, h, rw, rh, out);
    } else {
      const a = Math.floor(h / 2);
      kernelRegions(toPixel, x, y, w, a, rw, rh, out);
      kernelRegions(toPixel, x, y + a, w, h - a, rw, rh, out);
    }
    return;
  }
  if (!win.empty) out.push({ x, y, width: w, height: h, scale: win.scale });
}

/** The plan for one tile, or null when the tile does not touch the raster (HTTP 204). */
export function planTileRead(layout: RasterLayout, tile: TileXyz, size = 256, resampling: 'nearest' | 'bilinear' = 'bilinear'): TileReadPlan | null {
  const bounds = tileBounds(tile);
  if (layout.wgs84Bounds) {
    const [w, s, e, n] = layout.wgs84Bounds;
    const [tw, ts] = mercatorToLonLat(bounds.minX, bounds.minY), [te, tn] = mercatorToLonLat(bounds.maxX, bounds.maxY);
    if (!new Bounds(tw, ts, te, tn).intersects(new Bounds(w, s, e, n))) return null;
  }
  const full = layout.levels[0];
  const rasterBounds = Bounds.fromGrid(full.transform, full.width, full.height);
  const inSource = bounds.project(projector(WEB_MERCATOR, layout.crs), EDGE_STEPS);
  if (inSource.isEmpty || !inSource.intersects(rasterBounds)) return null;
  // output pixel size in source CRS units; pick the coarsest level not coarser than that
  const targetRes = Math.min(inSource.width, inSource.height) / size;
  let level = 0;
  for (let i = 1; i < layout.levels.length; i++) {
    const t = layout.levels[i].transform;
    if (Math.max(Math.hypot(t[1], t[4]), Math.hypot(t[2], t[5])) <= targetRes * 1.0001) level = i;
  }
  const l = layout.levels[level];
  // the tile footprint in level pixels: its edges, densified as GDAL's ComputeSourceWindow does
  const toPixel = tilePixelTransform(layout, tile, size, level);
  const edge: Array<[number, number]> = [];
  for (let i = 0; i <= EDGE_STEPS; i++) {
    const f = (i / EDGE_STEPS) * size;
    edge.push(toPixel(f, 0), toPixel(f, size), toPixel(0, f), toPixel(size, f));
  }
  const px = Bounds.fromPoints(edge.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  if (px.isEmpty) return null;
  const regions: KernelRegion[] = [];
  kernelRegions(toPixel, 0, 0, size, size, l.width, l.height, regions);
  if (!regions.length) return null;
  const maxScale = Math.max(1, ...regions.map((r) => Math.max(r.scale[0], r.scale[1])));
  const pad = resampling === 'nearest' ? 1 : Math.ceil(maxScale) + 1;
  const x0 = Math.max(0, Math.floor(px.minX) - pad), y0 = Math.max(0, Math.floor(px.minY) - pad);
  const x1 = Math.min(l.width, Math.ceil(px.maxX) + pad), y1 = Math.min(l.height, Math.ceil(px.maxY) + pad);
  if (x1 <= x0 || y1 <= y0) return null;
  return { tile, size, bounds, level, window: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, regions };
}

/** The approximate transformer from the plan's output pixels to its window's pixels. */
export function planMapping(layout: RasterLayout, plan: TileReadPlan, maxError = 0.125): ApproxTransform {
  const exact = tilePixelTransform(layout, plan.tile, plan.size, plan.level);
  const { x, y } = plan.window;
  return approxTransform(plan.size, plan.size, (px, py) => {
    const [sx, sy] = exact(px, py);
    return [sx - x, sy - y];
  }, maxError);
}
