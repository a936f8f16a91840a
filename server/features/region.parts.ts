/**
 * Statistics per feature of a region given as a FeatureCollection (a farm's stands, a carbon
 * project's strata): the same figures as the whole region's, from the same trees and CHM pixels,
 * each counted in the part whose polygons hold it (parts never overlap: region.ts refuses that).
 */
import type { Grid, Window } from '../raster/types.ts';
import { containsPoint, planarParts, regionPixelCount, regionSpans, regionWindow, type PlanarRegion, type Region, type RegionPart } from './region.ts';
import { RegionStatsAccumulator, type RegionStatistics } from './stats.ts';

export interface PartStatistics {
  feature: number;
  id: string | number | null;
  properties: Record<string, unknown> | null;
  statistics: RegionStatistics;
}

interface Part {
  info: RegionPart;
  planar: PlanarRegion;
  /** The part's pixels within the grid; null when it lies outside the raster. */
  window: Window | null;
  stats: RegionStatsAccumulator;
}

export class RegionPartsAccumulator {
  private readonly parts: Part[];

  /** `planar`: the whole region in the grid's CRS. */
  constructor(region: Region, planar: PlanarRegion, private readonly grid: Grid) {
    const planars = planarParts(region, planar);
    this.parts = (region.parts ?? []).map((info, k) => ({ info, planar: planars[k], window: regionWindow(planars[k], grid), stats: new RegionStatsAccumulator() }));
  }

  /** A tree of the region (its top at planar x, y) goes to the part holding its top. */
  addTree(x: number, y: number, height: number): void {
    for (const p of this.parts) {
      if (containsPoint(p.planar, x, y)) { p.stats.addTree(height); return; }
    }
  }

  /**
   * CHM pixels of `strip` (the grid's window `sub`, row-major, NaN = no data), before anything
   * outside the region is overwritten: each part takes the pixels whose centres it holds.
   */
  addChm(strip: Float32Array, sub: Window, pixelAreaM2: number): void {
    for (const p of this.parts) {
      const w = p.window;
      if (!w) continue;
      const x0 = Math.max(w.x, sub.x), y0 = Math.max(w.y, sub.y);
      const x1 = Math.min(w.x + w.width, sub.x + sub.width), y1 = Math.min(w.y + w.height, sub.y + sub.height);
      if (x1 <= x0 || y1 <= y0) continue;
      const dx = x0 - sub.x, dy = y0 - sub.y;
      regionSpans(p.planar, this.grid, { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, (row, c0, c1) => {
        const at = (row + dy) * sub.width + dx;
        p.stats.addChm(strip, at + c0, at + c1 + 1, pixelAreaM2);
      });
    }
  }

  result(): PartStatistics[] {
    return this.parts.map((p) => ({
      feature: p.info.feature, id: p.info.id, properties: p.info.properties,
      statistics: p.stats.result(p.info.areaM2, regionPixelCount(p.planar, this.grid)),
    }));
  }
}
