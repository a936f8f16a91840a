/**
 * Region statistics, accumulated tile by tile so a region of any size is summarised in bounded
 * memory: CHM pixels go into counters and a 0.1 m height histogram (no pixel array is kept); tree
 * heights are kept (one float64 per tree) because the tree count is already bounded by the area
 * limit and exact tree percentiles are what foresters quote.
 *
 * Definitions (stated in stats.json too):
 * - area_ha: geodesic area of the region (turf `area`), not a pixel count.
 * - canopy_cover_2m / _5m: fraction of the region's valid CHM pixels (centre inside the region)
 *   whose height is above 2 m / 5 m.
 * - data_coverage: fraction of the region's pixels (on the CHM's pixel lattice, extended past the
 *   raster's edges) that hold a valid CHM value; data_area_ha = area_ha x data_coverage. Below 1
 *   where the region reaches past the raster or over nodata.
 * - tree_count: trees whose top lies inside the region; trees_per_ha = tree_count / data_area_ha
 *   (trees can only be found where there is data: over area_ha the density would come out low by
 *   the share of the region without data).
 * - tree_height_m: mean / median / p95 / max of those trees' heights (exact).
 * - canopy_height_m: mean / median / p95 / max of CHM pixels above 2 m (percentiles to 0.1 m).
 * - height_histogram: tree heights in 1 m bins [k, k+1).
 */
import { roundTo as round } from './decimals.ts';

export interface HeightSummary {
  mean: number | null;
  median: number | null;
  p95: number | null;
  max: number | null;
}

export interface RegionStatistics {
  area_ha: number;
  area_m2: number;
  canopy_cover_2m: number | null;
  canopy_cover_5m: number | null;
  data_coverage: number | null;
  data_area_ha: number;
  tree_count: number;
  trees_per_ha: number;
  tree_height_m: HeightSummary;
  canopy_height_m: HeightSummary;
  height_histogram: { bin_width_m: number; edges_m: number[]; counts: number[] };
  chm_pixels: number;
  chm_pixel_area_m2: number | null;
}

const CANOPY_BIN_M = 0.1;
const CANOPY_BINS = 2000; // 0..200 m; taller values go into the last bin

export class RegionStatsAccumulator {
  private validPixels = 0;
  private above2 = 0;
  private above5 = 0;
  private canopySum = 0;
  private canopyMax = -Infinity;
  private readonly canopyHist = new Float64Array(CANOPY_BINS);
  private treeHeights: number[] = [];
  private pixelAreaM2: number | null = null;

  /**
   * Adds the CHM pixels heights[from..to), all inside the region (a run of a row: the caller walks
   * the region's spans, with no mask array); a pixel that is NaN or infinite holds no data.
   */
  addChm(heights: Float32Array, from: number, to: number, pixelAreaM2: number): void {
    this.pixelAreaM2 = pixelAreaM2;
    // locals, not fields, in the loop (V8 stores a field on every pixel): the same additions in the
    // same order, so the sums come out bit for bit as before
    let validPixels = this.validPixels, above2 = this.above2, above5 = this.above5, canopySum = this.canopySum, canopyMax = this.canopyMax;
    const hist = this.canopyHist;
    for (let i = from; i < to; i++) {
      const h = heights[i];
      if (h - h !== 0) continue; // NaN or infinite
      validPixels++;
      if (h > 2) {
        above2++;
        canopySum += h;
        if (h > canopyMax) canopyMax = h;
        hist[Math.min(CANOPY_BINS - 1, Math.floor(h / CANOPY_BIN_M))]++;
      }
      if (h > 5) above5++;
    }
    this.validPixels = validPixels; this.above2 = above2; this.above5 = above5; this.canopySum = canopySum; this.canopyMax = canopyMax;
  }

  addTree(height: number): void {
    this.treeHeights.push(height);
  }

  /** `regionPixels`: the region's pixels on the CHM's lattice, data or not (region.ts regionPixelCount). */
  result(areaM2: number, regionPixels: number): RegionStatistics {
    const areaHa = areaM2 / 1e4;
    const trees = Float64Array.from(this.treeHeights).sort();
    const coverage = regionPixels > 0 ? Math.min(1, this.validPixels / regionPixels) : null;
    const dataHa = areaHa * (coverage ?? 0);
    return {
      area_ha: round(areaHa, 6),
      area_m2: round(areaM2, 3),
      canopy_cover_2m: this.validPixels ? round(this.above2 / this.validPixels, 6) : null,
      canopy_cover_5m: this.validPixels ? round(this.above5 / this.validPixels, 6) : null,
      data_coverage: coverage === null ? null : round(coverage, 6),
      data_area_ha: round(dataHa, 6),
      tree_count: trees.length,
      trees_per_ha: dataHa > 0 ? round(trees.length / dataHa, 3) : 0,
      tree_height_m: summariseSorted(trees),
      canopy_height_m: this.canopySummary(),
      height_histogram: histogram(trees),
      chm_pixels: this.validPixels,
      chm_pixel_area_m2: this.pixelAreaM2,
    };
  }

  private canopySummary(): HeightSummary {
    const n = this.above2;
    if (n === 0) return { mean: null, median: null, p95: null, max: null };
    return {
      mean: round(this.canopySum / n, 3),
      median: round(this.histQuantile(0.5), 3),
      p95: round(this.histQuantile(0.95), 3),
      max: round(this.canopyMax, 3),
    };
  }

  /**
   * Quantile from the 0.1 m histogram: the centre of the bin holding the rank, but never above the
   * maximum (a bin's centre can lie above every value in it: two pixels of 2.31 m would report a
   * median of 2.35 over a maximum of 2.31).
   */
  private histQuantile(q: number): number {
    const rank = q * (this.above2 - 1);
    let seen = 0;
    for (let b = 0; b < CANOPY_BINS; b++) {
      seen += this.canopyHist[b];
      if (seen > rank) return Math.min((b + 0.5) * CANOPY_BIN_M, this.canopyMax);
    }
    return this.canopyMax;
  }
}

/** Linear-interpolated quantile of sorted values (numpy's default 'linear' method). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function summariseSorted(sorted: Float64Array): HeightSummary {
  if (sorted.length === 0) return { mean: null, median: null, p95: null, max: null };
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    mean: round(sum / sorted.length, 3),
    median: round(quantileSorted(sorted, 0.5), 3),
    p95: round(quantileSorted(sorted, 0.95), 3),
    max: round(sorted[sorted.length - 1], 3),
  };
}

function histogram(sorted: Float64Array): RegionStatistics['height_histogram'] {
  const top = sorted.length ? Math.max(1, Math.floor(sorted[sorted.length - 1]) + 1) : 0;
  const counts = new Array<number>(top).fill(0);
  for (const h of sorted) counts[Math.min(top - 1, Math.max(0, Math.floor(h)))]++;
  return { bin_width_m: 1, edges_m: Array.from({ length: top + 1 }, (_, i) => i), counts };
}

