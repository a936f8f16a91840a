/**
 * Tree detection over a raster too large to hold whole: tiles of `tileSize` pixels, each read with
 * a `halo` of context on every side, keeping the trees whose tops fall in the tile's core. Ids are
 * global pixel indices and the output is sorted by id, so the result equals detectTrees on the
 * whole raster when the halo covers the reach of a top and its crown (requiredHalo).
 * Memory is one row of tiles (or one tile, for very wide rasters) plus the trees found.
 */
import { InvalidInputError } from '../errors.ts';
import type { RasterImage, Window, Grid } from '../raster/types.ts';
import { chmPlane, delineateWindow, gridHalo, resolveTreeOptions, unitScale } from './detect.ts';
import type { CrownPolygon, Tree, TreeOptions } from './types.ts';

/** What tiling needs from a raster (server/raster/source.ts RasterSource fits). */
export interface ChmSource {
  readonly grid: Grid;
  readWindow(window: Window, opts?: { overview?: number; bands?: number[] }): Promise<RasterImage>;
}

export interface TiledOptions extends TreeOptions {
  /** Core tile side in pixels (default 512). */
  tileSize?: number;
  /** Context pixels on each side (default: requiredHalo of the options). */
  halo?: number;
  /** Called with each tile's trees as it finishes (for streaming to a store), in tile order.
   *  When given, trees are not also accumulated: the result's trees and crowns are empty. */
  onTile?: (trees: Tree[], crowns: Array<CrownPolygon | null>) => void | Promise<void>;
  /** Abort between tiles. */
  signal?: AbortSignal;
}

export interface TiledResult {
  grid: Grid;
  trees: Tree[];
  crowns: Array<CrownPolygon | null>;
}

/** Largest row-of-tiles strip read at once (float32: 64 MB). */
const STRIP_MAX_PIXELS = 16 * 1024 * 1024;

export type TreeProgress = (done: number, total: number) => void;

export async function detectTreesTiled(source: ChmSource, opts: TiledOptions = {}, onProgress?: TreeProgress): Promise<TiledResult> {
  const o = resolveTreeOptions(opts);
  const { grid } = source;
  const m = unitScale(grid.crs);
  const t = grid.transform;
  const tileSize = opts.tileSize ?? 512;
  if (!(Number.isInteger(tileSize) && tileSize >= 16 && tileSize <= 8192)) throw new InvalidInputError(`tileSize must be an integer in [16, 8192], got ${tileSize}`);
  const halo = opts.halo ?? gridHalo(opts, grid);
  if (!(Number.isInteger(halo) && halo >= 0 && halo <= 4096)) throw new InvalidInputError(`halo must be an integer in [0, 4096], got ${halo}`);
  const cols = Math.ceil(grid.width / tileSize), rows = Math.ceil(grid.height / tileSize);
  const total = cols * rows;
  const keep = !opts.onTile;
  const trees: Tree[] = [];
  const crowns: Array<CrownPolygon | null> = [];
  let done = 0;
  for (let ty = 0; ty < rows; ty++) {
    const cy0 = ty * tileSize, cy1 = Math.min(grid.height, cy0 + tileSize);
    const wy0 = Math.max(0, cy0 - halo), wy1 = Math.min(grid.height, cy1 + halo);
    // one read per row of tiles when it fits (each source block is decoded once, not once per
    // overlapping tile window); per-tile reads for very wide rasters, so memory stays bounded
    const strip = grid.width * (wy1 - wy0) <= STRIP_MAX_PIXELS
      ? chmPlane(await source.readWindow({ x: 0, y: wy0, width: grid.width, height: wy1 - wy0 }, { overview: 0, bands: [0] }))
      : null;
    for (let tx = 0; tx < cols; tx++) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
      const cx0 = tx * tileSize;
      const cx1 = Math.min(grid.width, cx0 + tileSize);
      const wx0 = Math.max(0, cx0 - halo);
      const wx1 = Math.min(grid.width, cx1 + halo);
      const ww = wx1 - wx0, wh = wy1 - wy0;
      let chm: Float32Array;
      if (strip) {
        chm = new Float32Array(ww * wh);
        for (let y = 0; y < wh; y++) chm.set(strip.subarray(y * grid.width + wx0, y * grid.width + wx1), y * ww);
      } else {
        chm = chmPlane(await source.readWindow({ x: wx0, y: wy0, width: ww, height: wh }, { overview: 0, bands: [0] }));
      }
      const r = delineateWindow({
        chm, width: ww, height: wh, offsetX: wx0, offsetY: wy0,
        rasterWidth: grid.width, rasterHeight: grid.height, transform: t, metresPerUnit: m,
        core: { x0: cx0 - wx0, y0: cy0 - wy0, x1: cx1 - wx0, y1: cy1 - wy0 },
      }, o);
      if (opts.onTile) await opts.onTile(r.trees, r.crowns);
      if (keep) { trees.push(...r.trees); crowns.push(...r.crowns); }
      onProgress?.(++done, total);
    }
  }
  // whole-raster order is row-major by top, which is id order
  const order = trees.map((_, i) => i).sort((a, b) => trees[a].id - trees[b].id);
  return { grid, trees: order.map((i) => trees[i]), crowns: order.map((i) => crowns[i]) };
}
