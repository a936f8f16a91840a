/**
 * Executes a tile read plan (tiles/read.plan.ts): decode the planned window of the planned level,
 * then resample it through the approximate Web Mercator -> raster transformer. Returns the tile
 * as a RasterImage on its EPSG:3857 grid, or null when the tile misses the raster.
 */
import { planMapping, planTileRead, type RasterLayout, type TileReadPlan } from '../../tiles/read.plan.ts';
import { WEB_MERCATOR } from '../../tiles/projection.ts';
import type { TileXyz } from '../../tiles/tile.matrix.set.ts';
import { resampleBlock, type PixelMapping } from './resample.ts';
import type { RasterSource } from './source.ts';
import type { RasterImage } from './types.ts';

export function layoutOf(source: RasterSource): RasterLayout {
  const levels = Array.from({ length: source.levelCount }, (_, i) => source.levelGrid(i));
  return { crs: source.grid.crs, levels, wgs84Bounds: source.metadata.wgs84Bounds };
}

const layouts = new WeakMap<RasterSource, RasterLayout>();
function cachedLayout(source: RasterSource): RasterLayout {
  let l = layouts.get(source);
  if (!l) {
    l = layoutOf(source);
    layouts.set(source, l);
  }
  return l;
}

export interface TileReadOptions {
  size?: number;
  resampling?: 'nearest' | 'bilinear';
  /** 0-based data bands to read (default: all). */
  bands?: number[];
  /** Most source pixels one tile decodes; larger windows (no fitting overview) are subsampled. */
  maxReadPixels?: number;
}

/** A tile decodes at most this many source pixels (4x a 512 px tile's worth). */
export const TILE_MAX_READ_PIXELS = 1024 * 1024;

export function planFor(source: RasterSource, tile: TileXyz, opts: TileReadOptions = {}): TileReadPlan | null {
  return planTileRead(cachedLayout(source), tile, opts.size ?? 256, opts.resampling ?? 'bilinear');
}

export async function readTile(source: RasterSource, tile: TileXyz, opts: TileReadOptions = {}): Promise<RasterImage | null> {
  const plan = planFor(source, tile, opts);
  if (!plan) return null;
  const layout = cachedLayout(source);
  const w = plan.window;
  // a raster without overviews seen from far out: decimate the read rather than decode it whole
  const k = Math.max(1, Math.ceil(Math.sqrt((w.width * w.height) / (opts.maxReadPixels ?? TILE_MAX_READ_PIXELS))));
  const block = await source.readLevel(plan.level, w, {
    bands: opts.bands,
    ...(k > 1 ? { outWidth: Math.ceil(w.width / k), outHeight: Math.ceil(w.height / k) } : {}),
  });
  const kx = w.width / block.width, ky = w.height / block.height;
  const approx = planMapping(layout, plan);
  const mapping: PixelMapping = {
    width: plan.size,
    height: plan.size,
    scaleX: 1,
    scaleY: 1,
    row(r, sx, sy) {
      approx.row(r, sx, sy);
      if (k > 1) for (let c = 0; c < sx.length; c++) { sx[c] /= kx; sy[c] /= ky; }
    },
  };
  const regions = plan.regions.map((g) => ({ x: g.x, y: g.y, width: g.width, height: g.height, scaleX: g.scale[0] / kx, scaleY: g.scale[1] / ky }));
  const out = resampleBlock(block, mapping, opts.resampling ?? 'bilinear', regions);
  const b = plan.bounds;
  const res = b.width / plan.size;
  return {
    grid: { width: plan.size, height: plan.size, crs: WEB_MERCATOR, transform: [b.minX, res, 0, b.maxY, 0, -res] },
    bands: out.bands,
    mask: out.mask,
  };
}
