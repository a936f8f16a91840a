/**
 * Projects points and rounds them to a fixed number of decimals, giving exactly the numbers that
 * rounding proj4's own result gives, for a fraction of its cost: a job's crowns have about 120 000
 * vertices per km², and proj4 took 40 ms per km² for them on the main thread.
 *
 * Space is cut into square cells. Each cell's corners are projected exactly and points inside are
 * interpolated bilinearly. The interpolation's error in a cell is measured where a smooth map's
 * is largest (edge midpoints and centre). A point whose interpolated value lies closer than twice
 * that error to a rounding boundary is projected exactly instead. So rounding sees the same side
 * of every boundary as it would with the exact value. tiles/approx.transform.ts interpolates
 * whole raster rows to a tolerance; this one must agree with the exact result to the last digit.
 */
import { metresPerUnit, projector, type Projector } from './projection.ts';
import type { Crs } from '../server/raster/types.ts';

/** Cells of this many metres: the error of interpolating UTM over one is below 1e-10 degrees. */
const CELL_METRES = 32;
/** Cells remembered at once (each 10 numbers); the cache restarts when full. */
const MAX_CELLS = 1 << 16;
/** Slack in rounding units for the floating-point error of x * 10^decimals itself. */
const SLACK = 1e-5;
/** Cell coordinates past this fall back to exact (they could not form a unique key). */
const MAX_INDEX = 2 ** 23;

// Per cell: the corners' outputs (x then y at (0,0), (1,0), (0,1), (1,1)), then the margins of x
// and y in rounding units. A cell with a non-finite corner has infinite margins: exact only.
const CELL_FIELDS = 10;
/** Where a cell's interpolation error is measured: the u edges' midpoints, the v edges', the centre. */
const CHECK_POINTS: ReadonlyArray<readonly [number, number]> = [[0.5, 0], [0.5, 1], [0, 0.5], [1, 0.5], [0.5, 0.5]];

/**
 * A class, not a closure per use: V8 keeps one optimised copy of its methods for every instance,
 * where each job's closure was compiled anew (and code that inlined one was thrown away when the
 * next job's came).
 */
export class RoundedProjector {
  /** How many points took each path (for tests and benches). */
  readonly counts = { interpolated: 0, exact: 0 };
  private readonly exact: Projector;
  private readonly scale: number;
  private readonly cell: number;
  private readonly cells = new Map<number, Float64Array>();
  private lastKey = NaN;
  private last: Float64Array | null = null;

  constructor(from: Crs, to: Crs, opts: { decimals?: number; cellSize?: number } = {}) {
    this.exact = projector(from, to);
    this.scale = 10 ** (opts.decimals ?? 7);
    this.cell = opts.cellSize ?? CELL_METRES / metresPerUnit(from);
  }

  /** Writes (x, y) projected and rounded to out[at], out[at + 1]. */
  project(x: number, y: number, out: Float64Array, at: number): void {
    const fx = x / this.cell, fy = y / this.cell;
    const ix = Math.floor(fx), iy = Math.floor(fy);
    if (!(Math.abs(ix) < MAX_INDEX && Math.abs(iy) < MAX_INDEX)) { this.exactInto(x, y, out, at); return; }
    const key = ix * 2 * MAX_INDEX + iy;
    let c = this.last;
    if (key !== this.lastKey || !c) {
      c = this.cells.get(key) ?? null;
      if (!c) { c = this.build(ix, iy); this.cells.set(key, c); }
      this.last = c; this.lastKey = key;
    }
    const u = fx - ix, v = fy - iy;
    const tx = bilinear(c, 0, u, v) * this.scale, ty = bilinear(c, 1, u, v) * this.scale;
    // Math.round moves only across k + 0.5: too close to one, and only the exact value can tell
    if (Math.abs(tx - Math.floor(tx) - 0.5) <= c[8] || Math.abs(ty - Math.floor(ty) - 0.5) <= c[9]) { this.exactInto(x, y, out, at); return; }
    this.counts.interpolated++;
    out[at] = Math.round(tx) / this.scale;
    out[at + 1] = Math.round(ty) / this.scale;
  }

  private exactInto(x: number, y: number, out: Float64Array, at: number): void {
    this.counts.exact++;
    const [a, b] = this.exact(x, y);
    out[at] = Math.round(a * this.scale) / this.scale;
    out[at + 1] = Math.round(b * this.scale) / this.scale;
  }

  private build(ix: number, iy: number): Float64Array {
    const c = new Float64Array(CELL_FIELDS);
    // a node proj4 refuses leaves the cell to the exact path, which answers as proj4 does
    const at = (u: number, v: number): [number, number] => {
      try { return this.exact((ix + u) * this.cell, (iy + v) * this.cell); } catch { return [NaN, NaN]; }
    };
    const corners = [at(0, 0), at(1, 0), at(0, 1), at(1, 1)];
    for (let k = 0; k < 4; k++) { c[2 * k] = corners[k][0]; c[2 * k + 1] = corners[k][1]; }
    let finite = corners.every(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
    // a smooth map's error is (a u(u-1) + c v(v-1)): its bound is |a|/4 + |c|/4, which the
    // midpoints of the u and the v edges measure; the centre is checked too, and the bound doubled.
    // Each check point is projected once, for both axes
    const checks = CHECK_POINTS.map(([u, v]) => ({ u, v, p: at(u, v) }));
    const err = (k: number, axis: number) => {
      const { u, v, p } = checks[k];
      const e = p[axis] - bilinear(c, axis, u, v);
      if (!Number.isFinite(e)) finite = false;
      return Math.abs(e);
    };
    for (let axis = 0; axis < 2; axis++) {
      const alongU = Math.max(err(0, axis), err(1, axis));
      const alongV = Math.max(err(2, axis), err(3, axis));
      const bound = Math.max(alongU + alongV, err(4, axis));
      c[8 + axis] = finite ? 2 * bound * this.scale + SLACK : Infinity;
    }
    if (this.cells.size >= MAX_CELLS) this.cells.clear();
    return c;
  }
}

function bilinear(c: Float64Array, axis: number, u: number, v: number): number {
  return (1 - v) * ((1 - u) * c[axis] + u * c[2 + axis]) + v * ((1 - u) * c[4 + axis] + u * c[6 + axis]);
}
