/**
 * Highest return per cell (lidR `p2r`): each point, or with `subcircle` > 0 each of 8 points on a
 * circle of that radius around it (lidR's trick against empty cells), raises its cell to its
 * height. The grid is laid out as lidR's rOverlay: the points' extent grown by `subcircle`, with
 * edges snapped to multiples of `res`.
 */
import type { Affine } from '../raster/types.ts';

export interface CellLayout {
  xmin: number;
  ymax: number;
  res: number;
  width: number;
  height: number;
}

/** lidR's rOverlay(las, res, buffer = subcircle) for a point extent. */
export function overlayLayout(ext: { xmin: number; ymin: number; xmax: number; ymax: number }, res: number, buffer: number): CellLayout {
  const x0 = Math.round((ext.xmin - buffer - 0.5 * res) / res) * res;
  const x1 = Math.round((ext.xmax + buffer - 0.5 * res) / res) * res + res;
  const y0 = Math.round((ext.ymin - buffer - 0.5 * res) / res) * res;
  const y1 = Math.round((ext.ymax + buffer - 0.5 * res) / res) * res + res;
  return { xmin: x0, ymax: y1, res, width: Math.max(1, Math.round((x1 - x0) / res)), height: Math.max(1, Math.round((y1 - y0) / res)) };
}

export function layoutTransform(l: CellLayout): Affine {
  return [l.xmin, l.res, 0, l.ymax, 0, -l.res];
}

/**
 * Rasterises heights (NaN where no point fell). `keep(i)` filters points (e.g. noise classes).
 */
export function pointsToRaster(
  x: Float64Array, y: Float64Array, h: Float64Array | Float32Array, l: CellLayout, subcircle = 0,
  keep: (i: number) => boolean = () => true,
): Float32Array {
  const out = new Float32Array(l.width * l.height).fill(-Infinity);
  const put = (px: number, py: number, z: number) => {
    let col = Math.floor((px - l.xmin) / l.res), row = Math.floor((l.ymax - py) / l.res);
    if (col === l.width) col--; // a point on the far edge belongs to the last cell
    if (row === l.height) row--;
    if (col < 0 || row < 0 || col >= l.width || row >= l.height) return;
    const i = row * l.width + col;
    if (z > out[i]) out[i] = z;
  };
  const cs: number[] = [], ss: number[] = [];
  for (let j = 0; j < 8; j++) { cs.push(Math.cos((j * 2 * Math.PI) / 8)); ss.push(Math.sin((j * 2 * Math.PI) / 8)); }
  for (let i = 0; i < x.length; i++) {
    if (!keep(i)) continue;
    const z = h[i];
    if (!(z === z)) continue;
    if (subcircle > 0) for (let j = 0; j < 8; j++) put(x[i] + subcircle * cs[j], y[i] + subcircle * ss[j], z);
    else put(x[i], y[i], z);
  }
  for (let i = 0; i < out.length; i++) if (out[i] === -Infinity) out[i] = NaN;
  return out;
}
