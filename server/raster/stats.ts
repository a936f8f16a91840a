/**
 * Approximate per-band statistics (min, max, 2nd/98th percentiles) from a decimated read of the
 * whole raster (coarsest fitting overview, at most ~1024 px a side): enough to choose a default
 * display range without decoding every pixel.
 */
import type { RasterSource } from './source.ts';
import type { Grid } from './types.ts';

export interface BandStats {
  min: number;
  max: number;
  p2: number;
  p98: number;
  mean: number;
  validCount: number;
}

const SAMPLE_SIDE = 1024;
const cache = new WeakMap<RasterSource, Promise<BandStats[]>>();

function quantile(sorted: Float32Array, q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

export function approxStats(source: RasterSource): Promise<BandStats[]> {
  let p = cache.get(source);
  if (!p) {
    p = compute(source);
    cache.set(source, p);
    p.catch(() => cache.delete(source));
  }
  return p;
}

async function compute(source: RasterSource): Promise<BandStats[]> {
  const g = source.grid;
  const k = Math.max(1, Math.max(g.width, g.height) / SAMPLE_SIDE);
  const w = Math.max(1, Math.round(g.width / k)), h = Math.max(1, Math.round(g.height / k));
  const t = g.transform;
  const target: Grid = { width: w, height: h, crs: g.crs, transform: [t[0], (t[1] * g.width) / w, 0, t[3], 0, (t[5] * g.height) / h] };
  const img = await source.readGrid(target, { resampling: 'nearest' });
  return img.bands.map((band) => {
    const values: number[] = [];
    let sum = 0;
    for (let i = 0; i < band.length; i++) {
      if (img.mask && !img.mask[i]) continue;
      values.push(band[i]);
      sum += band[i];
    }
    const sorted = Float32Array.from(values).sort();
    return {
      min: sorted.length ? sorted[0] : NaN,
      max: sorted.length ? sorted[sorted.length - 1] : NaN,
      p2: quantile(sorted, 0.02),
      p98: quantile(sorted, 0.98),
      mean: values.length ? sum / values.length : NaN,
      validCount: values.length,
    };
  });
}
