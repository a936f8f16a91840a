/**
 * An approximate pixel transformer: the exact (proj4) transform is evaluated on a grid of nodes
 * and bilinearly interpolated between them, as GDAL's approximate transformer does along lines.
 * The grid is refined (step halved) until the interpolation error measured at every cell centre
 * and edge midpoint is under `maxError` (pixels of the output coordinates), down to step 1 (exact).
 */

/** Exact transform of a continuous destination pixel coordinate; non-finite where it has none. */
export type PixelTransform = (px: number, py: number) => [number, number];

export interface ApproxTransform {
  /** Fill sx/sy with the transformed centres (c + 0.5, r + 0.5) of row r. */
  row(r: number, sx: Float64Array, sy: Float64Array): void;
  /** Node spacing finally used, in destination pixels (1 = exact everywhere). */
  step: number;
}

interface NodeGrid {
  step: number;
  cols: number;
  rows: number;
  xs: Float64Array;
  ys: Float64Array;
}

function nodePos(i: number, step: number, size: number): number {
  return Math.min(i * step, size - 1) + 0.5;
}

function buildNodes(width: number, height: number, step: number, exact: PixelTransform): NodeGrid | null {
  const cols = Math.ceil((width - 1) / step) + 1, rows = Math.ceil((height - 1) / step) + 1;
  const xs = new Float64Array(cols * rows), ys = new Float64Array(cols * rows);
  for (let j = 0; j < rows; j++) {
    for (let i = 0; i < cols; i++) {
      const [x, y] = exact(nodePos(i, step, width), nodePos(j, step, height));
      if (!Number.isFinite(x) || !Number.isFinite(y)) return null;
      xs[j * cols + i] = x;
      ys[j * cols + i] = y;
    }
  }
  return { step, cols, rows, xs, ys };
}

function interpolate(g: NodeGrid, width: number, height: number, px: number, py: number): [number, number] {
  // locate the cell whose node positions bracket (px, py)
  const fi = Math.min(g.cols - 2, Math.max(0, Math.floor((px - 0.5) / g.step)));
  const fj = Math.min(g.rows - 2, Math.max(0, Math.floor((py - 0.5) / g.step)));
  const x0 = nodePos(fi, g.step, width), x1 = nodePos(fi + 1, g.step, width);
  const y0 = nodePos(fj, g.step, height), y1 = nodePos(fj + 1, g.step, height);
  const u = x1 > x0 ? (px - x0) / (x1 - x0) : 0, v = y1 > y0 ? (py - y0) / (y1 - y0) : 0;
  const a = fj * g.cols + fi, b = a + 1, c = a + g.cols, d = c + 1;
  const x = (1 - v) * ((1 - u) * g.xs[a] + u * g.xs[b]) + v * ((1 - u) * g.xs[c] + u * g.xs[d]);
  const y = (1 - v) * ((1 - u) * g.ys[a] + u * g.ys[b]) + v * ((1 - u) * g.ys[c] + u * g.ys[d]);
  return [x, y];
}

function maxErrorOf(g: NodeGrid, width: number, height: number, exact: PixelTransform): number {
  let worst = 0;
  for (let j = 0; j < g.rows - 1; j++) {
    for (let i = 0; i < g.cols - 1; i++) {
      const x0 = nodePos(i, g.step, width), x1 = nodePos(i + 1, g.step, width);
      const y0 = nodePos(j, g.step, height), y1 = nodePos(j + 1, g.step, height);
      const xm = (x0 + x1) / 2, ym = (y0 + y1) / 2;
      for (const [px, py] of [[xm, ym], [xm, y0], [x0, ym]] as const) {
        const [ex, ey] = exact(px, py);
        if (!Number.isFinite(ex) || !Number.isFinite(ey)) return Infinity;
        const [ax, ay] = interpolate(g, width, height, px, py);
        worst = Math.max(worst, Math.abs(ax - ex), Math.abs(ay - ey));
      }
    }
  }
  return worst;
}

/** Row r by linear steps along each cell: two vertical interpolations per cell, then additions. */
function interpolateRow(g: NodeGrid, width: number, height: number, r: number, sx: Float64Array, sy: Float64Array): void {
  const py = r + 0.5;
  const fj = Math.min(g.rows - 2, Math.max(0, Math.floor((py - 0.5) / g.step)));
  const y0 = nodePos(fj, g.step, height), y1 = nodePos(fj + 1, g.step, height);
  const v = y1 > y0 ? (py - y0) / (y1 - y0) : 0;
  const top = fj * g.cols, bottom = top + g.cols;
  let c = 0;
  for (let fi = 0; fi < g.cols - 1 && c < width; fi++) {
    const x0 = nodePos(fi, g.step, width), x1 = nodePos(fi + 1, g.step, width);
    const lx = (1 - v) * g.xs[top + fi] + v * g.xs[bottom + fi], ly = (1 - v) * g.ys[top + fi] + v * g.ys[bottom + fi];
    const rx = (1 - v) * g.xs[top + fi + 1] + v * g.xs[bottom + fi + 1], ry = (1 - v) * g.ys[top + fi + 1] + v * g.ys[bottom + fi + 1];
    const span = x1 - x0;
    const last = fi === g.cols - 2 ? width : Math.min(width, Math.floor(x1 - 0.5));
    for (; c < last; c++) {
      const u = span > 0 ? (c + 0.5 - x0) / span : 0;
      sx[c] = lx + u * (rx - lx);
      sy[c] = ly + u * (ry - ly);
    }
  }
}

export function approxTransform(width: number, height: number, exact: PixelTransform, maxError = 0.125, maxStep = 32): ApproxTransform {
  for (let step = maxStep; step > 1; step = Math.floor(step / 2)) {
    if (step >= Math.max(width, height) * 2 && step > 2) continue;
    const g = buildNodes(width, height, step, exact);
    if (!g || g.cols < 2 || g.rows < 2) continue;
    if (maxErrorOf(g, width, height, exact) > maxError) continue;
    return { step, row: (r, sx, sy) => interpolateRow(g, width, height, r, sx, sy) };
  }
  return {
    step: 1,
    row(r, sx, sy) {
      for (let c = 0; c < width; c++) {
        const [x, y] = exact(c + 0.5, r + 0.5);
        sx[c] = Number.isFinite(x) ? x : NaN;
        sy[c] = Number.isFinite(y) ? y : NaN;
      }
    },
  };
}
