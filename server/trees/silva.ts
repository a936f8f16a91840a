/**
 * Silva et al. (2016) crowns, as lidR's silva2016: every pixel goes to its nearest tree top
 * (a Voronoi tessellation), and stays in that crown only if it is within max_cr_factor x the top's
 * height of the top and at least exclusion x the top's height tall.
 *
 * Nearest-top search paints each top's disc of radius maxCrFactor x (tallest top): any pixel that
 * can stay in a crown lies within that radius of its nearest top, and so does every nearer top,
 * hence the painted nearest is the true nearest wherever it matters. Ties go to the lower seed index.
 */
import { InvalidInputError } from '../errors.ts';

/** Bound on a crown's radius in pixels: each top paints a disc of this radius. */
export const MAX_CROWN_RADIUS_PX = 1000;

export interface SilvaParams {
  maxCrFactor: number;
  exclusion: number;
  resX: number;
  resY: number;
}

export function silva2016(
  chm: Float32Array, width: number, height: number, seeds: Int32Array, p: SilvaParams,
): Int32Array {
  const n = width * height;
  const labels = new Int32Array(n);
  const best = new Float64Array(n).fill(Infinity);
  let hmax = 0;
  for (let k = 0; k < seeds.length; k++) hmax = Math.max(hmax, chm[seeds[k]]);
  const R = p.maxCrFactor * hmax;
  if (R / Math.min(p.resX, p.resY) > MAX_CROWN_RADIUS_PX) {
    throw new InvalidInputError(`the tallest top (${hmax.toFixed(1)} m) gives a crown radius of ${R.toFixed(1)} m, more than ${MAX_CROWN_RADIUS_PX} pixels: mask height outliers or lower maxCrFactor`);
  }
  const rx = Math.floor(R / p.resX), ry = Math.floor(R / p.resY);
  const R2 = R * R;
  for (let k = 0; k < seeds.length; k++) {
    const s = seeds[k];
    const sx = s % width, sy = (s / width) | 0;
    for (let dy = -ry; dy <= ry; dy++) {
      const y = sy + dy;
      if (y < 0 || y >= height) continue;
      const my2 = (dy * p.resY) ** 2;
      for (let dx = -rx; dx <= rx; dx++) {
        const x = sx + dx;
        if (x < 0 || x >= width) continue;
        const d2 = (dx * p.resX) ** 2 + my2;
        if (d2 > R2) continue;
        const i = y * width + x;
        if (d2 < best[i]) { best[i] = d2; labels[i] = k + 1; }
      }
    }
  }
  for (let i = 0; i < n; i++) {
    const k = labels[i];
    if (k === 0) continue;
    const hTop = chm[seeds[k - 1]];
    const z = chm[i];
    if (!(z >= p.exclusion * hTop) || Math.sqrt(best[i]) > p.maxCrFactor * hTop) labels[i] = 0;
  }
  return labels;
}
