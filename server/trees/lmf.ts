/**
 * Tree tops by local maximum filter, with lidR `lmf` semantics: a pixel at or above `hmin` is a
 * top when no pixel in the window centred on it (diameter `ws` metres, circular or square, a
 * fixed size or a function of the pixel's height) is higher.
 *
 * Ties: lidR visits points in order and rejects a point when an equal-height point in its window
 * was already accepted, so the first of a plateau wins. That rule chains along plateaus without
 * bound, which would make tiled and whole-raster results differ. Here a pixel loses a tie to any
 * earlier (row-major) equal-height pixel in its window that is itself not beaten by a higher
 * pixel: the first of a plateau still wins, and the decision depends only on pixels within two
 * window radii, so tiles with a halo reproduce the whole-raster result exactly.
 */
import { InvalidInputError } from '../errors.ts';
import type { WindowFunction } from './types.ts';

/** Bound on the window radius in pixels: the offset table (and the work per pixel) grows with its square. */
export const MAX_WINDOW_RADIUS_PX = 200;

export interface LmfParams {
  ws: number | WindowFunction;
  hmin: number;
  shape: 'circular' | 'square';
  /** Pixel size in metres along x and y. */
  resX: number;
  resY: number;
}

/** Pixel offsets sorted by distance from the centre, so the nearest (most likely higher) come first. */
export interface OffsetTable {
  dx: Int32Array;
  dy: Int32Array;
  /** Distance in metres (circular: Euclidean; square: Chebyshev in metres). */
  dist: Float64Array;
}

export function offsetTable(radiusM: number, resX: number, resY: number, shape: 'circular' | 'square'): OffsetTable {
  const rx = Math.floor(radiusM / resX + 1e-9), ry = Math.floor(radiusM / resY + 1e-9);
  const items: Array<[number, number, number]> = [];
  for (let dy = -ry; dy <= ry; dy++) {
    for (let dx = -rx; dx <= rx; dx++) {
      const mx = dx * resX, my = dy * resY;
      const d = shape === 'circular' ? Math.hypot(mx, my) : Math.max(Math.abs(mx), Math.abs(my));
      if (d <= radiusM + 1e-9) items.push([dx, dy, d]);
    }
  }
  items.sort((a, b) => a[2] - b[2] || a[1] - b[1] || a[0] - b[0]);
  return {
    dx: Int32Array.from(items, (i) => i[0]),
    dy: Int32Array.from(items, (i) => i[1]),
    dist: Float64Array.from(items, (i) => i[2]),
  };
}

/** Window radius in metres for a pixel of height h. */
export function windowRadius(ws: number | WindowFunction, h: number): number {
  const d = typeof ws === 'number' ? ws : ws(h);
  return d / 2;
}

/** Largest window radius (m) for heights up to hmax; the halo tiles need for tops is twice this. */
export function maxWindowRadius(ws: number | WindowFunction, hmin: number, hmax: number): number {
  return windowRadiusRange(ws, hmin, hmax).max;
}

/** Smallest and largest window radius (m) over heights hmin..hmax, and the height of the smallest. */
export function windowRadiusRange(ws: number | WindowFunction, hmin: number, hmax: number): { min: number; max: number; minAt: number } {
  if (typeof ws === 'number') return { min: ws / 2, max: ws / 2, minAt: hmin };
  let min = Infinity, max = 0, minAt = hmin;
  // sample the function (it need not be monotonic) finely over the height range
  const steps = 512;
  for (let s = 0; s <= steps; s++) {
    const h = hmin + ((hmax - hmin) * s) / steps, r = ws(h) / 2;
    if (r > max) max = r;
    if (r < min) (min = r), (minAt = h);
  }
  return { min, max, minAt };
}

/** Above the tallest trees measured (about 116 m): a CHM value beyond it is noise or an undeclared fill value. */
const MAX_TREE_HEIGHT_M = 130;

/**
 * Finds tops in `chm` (width x height, row-major; NaN = no data), reporting only those inside
 * `region` (default: the whole array). Returns row-major pixel indices, ascending.
 */

export function findTops(
  chm: Float32Array, width: number, height: number, p: LmfParams,
  region: { x0: number; y0: number; x1: number; y1: number } = { x0: 0, y0: 0, x1: width, y1: height },
): Int32Array {
  const n = width * height;
  // radius per pixel (m), only where a pixel can be a top or a tie partner of one (h >= hmin)
  let rmax = 0, hAtMax = NaN;
  const radius = typeof p.ws === 'number' ? null : new Float32Array(n);
  if (typeof p.ws === 'number') rmax = p.ws / 2;
  else {
    for (let i = 0; i < n; i++) {
      const h = chm[i];
      if (h >= p.hmin) {
        const r = p.ws(h) / 2;
        if (!(r > 0) || !Number.isFinite(r)) throw new InvalidInputError(`the window size function gave ${r * 2} at height ${h}`);
        radius![i] = r;
        if (r > rmax) { rmax = r; hAtMax = h; }
      }
    }
  }
  if (rmax / Math.min(p.resX, p.resY) > MAX_WINDOW_RADIUS_PX) {
    // only heights no tree reaches make a variable window this wide: say which, so the CHM gets cleaned
    const at = Number.isNaN(hAtMax) ? '' : ` (ws at the CHM's highest value, ${Number(hAtMax.toPrecision(4))} m${hAtMax > MAX_TREE_HEIGHT_M ? `: no tree is that tall, so clip the CHM's outliers first, e.g. gdal_calc.py --calc="minimum(A,${MAX_TREE_HEIGHT_M})"` : ''})`;
    throw new InvalidInputError(`a ${Number((2 * rmax).toPrecision(4))} m window${at} spans more than ${2 * MAX_WINDOW_RADIUS_PX} pixels of ${Math.min(p.resX, p.resY)} m: use a smaller ws`);
  }
  const table = offsetTable(rmax, p.resX, p.resY, p.shape);
  const fixedR = typeof p.ws === 'number' ? p.ws / 2 : 0;

  const { dx, dy, dist } = table;
  const nOff = dx.length;
  // linear offsets and the table's reach, for the bounds-free path away from the edges
  const lin = new Int32Array(nOff);
  let reachX = 0, reachY = 0;
  for (let k = 0; k < nOff; k++) {
    lin[k] = dy[k] * width + dx[k];
    if (dx[k] > reachX) reachX = dx[k];
    if (dy[k] > reachY) reachY = dy[k];
  }
  const w: Search = { chm, width, height, radius, fixedR, dx, dy, dist, lin, nOff, reachX, reachY, state: new Uint8Array(n) };

  // Most pixels of a canopy have a higher 4-neighbour: that settles them without the window
  // search, when the window reaches the neighbours (its radius, plus the search's slack, is at
  // least the pixel size along x and y)
  const near = Math.max(p.resX, p.resY);
  const state = w.state;
  let tops = new Int32Array(1024);
  let nTops = 0;
  for (let y = region.y0; y < region.y1; y++) {
    const inner = y > 0 && y < height - 1;
    for (let x = region.x0; x < region.x1; x++) {
      const i = y * width + x;
      const h = chm[i];
      if (!(h >= p.hmin)) continue; // NaN fails too
      if (inner && x > 0 && x < width - 1 && state[i] === 0 && (radius ? radius[i] : fixedR) + 1e-9 >= near
        && (chm[i - width] > h || chm[i - 1] > h || chm[i + 1] > h || chm[i + width] > h)) {
        state[i] = 1;
        continue;
      }
      if (!unbeaten(w, i, x, y) || losesTie(w, i, x, y)) continue;
      if (nTops === tops.length) tops = grown(tops);
      tops[nTops++] = i;
    }
  }
  return tops.slice(0, nTops);
}

/**
 * lidR's tie rule: an earlier unbeaten pixel of equal height in i's window wins. Ties are rare, and
 * so is this loop's inner call: kept out of findTops, the first tie a process meets deoptimises
 * this small function rather than findTops, whose recompilation took 60-130 ms of a compiler
 * thread (--trace-opt, a 1 km² job).
 */
function losesTie(w: Search, i: number, x: number, y: number): boolean {
  const { chm, dx, dy, dist, nOff, width, height } = w;
  const h = chm[i];
  const rr = (w.radius ? w.radius[i] : w.fixedR) + 1e-9;
  for (let k = 1; k < nOff; k++) {
    if (dist[k] > rr) break;
    const ddy = dy[k], ddx = dx[k];
    if (ddy > 0 || (ddy === 0 && ddx > 0)) continue; // only earlier pixels
    const xx = x + ddx, yy = y + ddy;
    if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
    const j = yy * width + xx;
    if (chm[j] === h && unbeaten(w, j, xx, yy)) return true;
  }
  return false;
}

function grown(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const t = new Int32Array(a.length * 2);
  t.set(a);
  return t;
}

interface Search {
  chm: Float32Array; width: number; height: number;
  radius: Float32Array | null; fixedR: number;
  dx: Int32Array; dy: Int32Array; dist: Float64Array; lin: Int32Array; nOff: number;
  reachX: number; reachY: number;
  /** 0 = not computed, 1 = beaten by a higher pixel, 2 = unbeaten ("candidate") */
  state: Uint8Array;
}

/** Whether no pixel in pixel i's window is higher (memoised in w.state). */
function unbeaten(w: Search, i: number, x: number, y: number): boolean {
  const state = w.state;
  const s = state[i];
  if (s !== 0) return s === 2;
  const chm = w.chm, dist = w.dist, nOff = w.nOff;
  const h = chm[i];
  const rr = (w.radius ? w.radius[i] : w.fixedR) + 1e-9;
  let ok = true;
  // offset 0 is the centre (never higher, and at distance 0): start at 1
  if (x >= w.reachX && y >= w.reachY && x < w.width - w.reachX && y < w.height - w.reachY) {
    const lin = w.lin;
    for (let k = 1; k < nOff; k++) {
      if (dist[k] > rr) break;
      if (chm[i + lin[k]] > h) { ok = false; break; }
    }
  } else {
    const dx = w.dx, dy = w.dy, width = w.width, height = w.height;
    for (let k = 1; k < nOff; k++) {
      if (dist[k] > rr) break;
      const xx = x + dx[k], yy = y + dy[k];
      if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
      if (chm[yy * width + xx] > h) { ok = false; break; }
    }
  }
  state[i] = ok ? 2 : 1;
  return ok;
}
