/**
 * The CHM of one block of a raster, identical to the whole-raster CHM there: what a job's tile work
 * unit needs (server/jobs). Written by the jobs engineer, composing the engine's exported pieces
 * without changing them.
 *
 * Why it is identical: the engine lays model windows at origins 0, stride, 2*stride, ... of the
 * grid it is given, plus one flush with the far edge, and blends them. Run on a sub-grid that
 *  - starts at a window origin of the whole grid (a multiple of the stride), at or before the first
 *    window that touches the block, and
 *  - ends at the whole grid's edge, or at least one model tile past the block (so the sub-grid's
 *    own flush window cannot touch the block),
 * every block pixel is covered by exactly the windows that cover it in the whole run, with the
 * same blend weights, so the block's values come out the same. The source is read at the same
 * model-grid pixels (the sub-grid is a window of the whole model grid).
 */
import type { Grid, RasterImage, Window } from '../raster/types.ts';
import type { LoadedManifest } from '../model/manifest.ts';
import { normaliseTiling } from '../../tiles/windows.ts';
import { startChm, type ChmOptions, type ChmSource } from './engine.ts';
import { modelGrid, sameGrid, windowGrid } from './model.grid.ts';
import { inputAdjustment } from './input.stats.ts';

/**
 * The sub-grid window (in the model grid) the engine must run on for `block` to match the whole
 * run, holding exactly the whole run's windows that touch the block and no others: it starts at
 * the first window origin touching the block and ends where the last one touching it ends (or at
 * the grid's edge, where the whole run's flush window is the last).
 */
export function blockContext(modelGridSize: { width: number; height: number }, block: Window, tileSize: number, stride: number): Window {
  const axis = (start: number, length: number, size: number): [number, number] => {
    if (size <= tileSize) return [0, size];
    const lastRegular = Math.floor((size - tileSize) / stride) * stride;
    // first regular origin o with o + tileSize > start
    const lo = Math.min(lastRegular, Math.max(0, (Math.floor((start - tileSize) / stride) + 1) * stride));
    // last regular origin touching the block; past the regular ones only the flush window is left
    const last = Math.floor((start + length - 1) / stride) * stride;
    const hi = last >= lastRegular ? size : last + tileSize;
    return [lo, hi];
  };
  const [x0, x1] = axis(block.x, block.width, modelGridSize.width);
  const [y0, y1] = axis(block.y, block.height, modelGridSize.height);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** A source whose grid is a window of the model grid, reading the same pixels the whole run reads. */
function subSource(source: ChmSource, whole: Grid, ctx: Window): ChmSource {
  const grid = windowGrid(whole, ctx);
  const direct = sameGrid(whole, source.grid) && typeof source.readWindow === 'function';
  return {
    grid,
    ...(source.metadata ? { metadata: source.metadata } : {}),
    readGrid: (target, opts) => source.readGrid(target, opts),
    ...(direct ? { readWindow: (w: Window, opts?: Record<string, unknown>) => source.readWindow!({ ...w, x: w.x + ctx.x, y: w.y + ctx.y }, opts) } : {}),
    // the engine's fast path (decode without resampling); it clips windows to this sub-grid first
    ...(direct && typeof source.readLevel === 'function' ? { readLevel: (level: number, w: Window) => source.readLevel!(level, { ...w, x: w.x + ctx.x, y: w.y + ctx.y }) } : {}),
    ...(direct && typeof source.readLevelSamples === 'function' ? { readLevelSamples: (level: number, w: Window) => source.readLevelSamples!(level, { ...w, x: w.x + ctx.x, y: w.y + ctx.y }) } : {}),
  };
}

export interface ChmBlockOptions extends Omit<ChmOptions, 'source' | 'manifest' | 'stripHeight' | 'nodata'> {
  source: ChmSource;
  manifest: LoadedManifest;
}

/** The model grid of a raster (the CHM's grid). */
export function chmGridOf(source: ChmSource, manifest: LoadedManifest): Grid {
  return modelGrid(source.grid, manifest.input.gsd);
}

/**
 * Streams the CHM of `block` (a window of the model grid), equal to the whole-raster CHM's pixels
 * there, top to bottom: `onRows(y, rows)` gets consecutive block rows (block-relative y; `rows`
 * holds rows.length / block.width rows, metres, NaN for nodata; the array is reused for the next
 * rows once onRows has returned, so copy what you keep). Memory: the engine's strips of the
 * context window, never the whole block.
 */
export async function streamChmBlock(block: Window, opts: ChmBlockOptions, onRows: (y: number, rows: Float32Array) => void | Promise<void>): Promise<void> {
  const whole = chmGridOf(opts.source, opts.manifest);
  const tiling = normaliseTiling(opts.manifest.tiling);
  const ctx = blockContext(whole, block, tiling.tileSize, tiling.stride);
  // the whole raster's input adjustment, so every block prepares its pixels alike
  const adjustment = opts.inputAdjustment ?? await inputAdjustment(opts.source, opts.manifest, opts.aerial === true);
  // blended straight to NaN where no window saw data, and cropped to the block: the strips are
  // then the block's rows as they are
  const dx = block.x - ctx.x, dy = block.y - ctx.y;
  const run = startChm({ ...opts, source: subSource(opts.source, whole, ctx), nodata: NaN, inputAdjustment: adjustment, crop: { x: dx, y: dy, width: block.width, height: block.height } });
  if (run.grid.width !== ctx.width || run.grid.height !== ctx.height) throw new Error('internal: block context grid was resampled');
  const it = run.strips;
  try {
    for (let r = await it.next(); !r.done; r = await it.next()) {
      const s = r.value;
      await onRows(s.y - dy, s.values);
      if (s.y + s.height >= dy + block.height) break; // later strips lie below the block
    }
  } finally {
    await it.return(undefined);
  }
}

/** The CHM of `block` in memory (tests, small blocks): see streamChmBlock. */
export async function computeChmBlock(block: Window, opts: ChmBlockOptions): Promise<RasterImage> {
  const values = new Float32Array(block.width * block.height).fill(NaN);
  await streamChmBlock(block, opts, (y, rows) => { values.set(rows, y * block.width); });
  return { grid: windowGrid(chmGridOf(opts.source, opts.manifest), block), bands: [values], mask: null };
}
