/**
 * What tree detection takes and gives. Parameter names follow lidR (lmf, dalponte2016, silva2016)
 * so a user's lidR settings carry over; see docs in detect.ts for the few deliberate differences.
 */
import type { Grid } from '../raster/types.ts';

export type CrownAlgorithm = 'dalponte' | 'silva' | 'watershed';

/** Window diameter in metres as a function of the pixel's height in metres (lidR `lmf(ws = f)`). */
export type WindowFunction = (h: number) => number;

export interface SmoothOptions {
  /** 'mean' and 'median' use a square kernel of `size` pixels; 'gaussian' uses `sigma` pixels. */
  method: 'mean' | 'median' | 'gaussian';
  /** Odd kernel width in pixels (mean, median). Default 3. */
  size?: number;
  /** Standard deviation in pixels (gaussian). Default 1. */
  sigma?: number;
}

export interface TreeOptions {
  /** lmf `ws`: window diameter in metres, a number or a function of height. Default 5 (lidR's examples). */
  ws?: number | WindowFunction;
  /** lmf `hmin`: minimum height of a tree top in metres. Default 2. */
  hmin?: number;
  /** lmf `shape`. Default 'circular'. */
  shape?: 'circular' | 'square';
  /** Smooth the CHM before finding tops and crowns. Default none. */
  smooth?: SmoothOptions | null;
  /** Crown delineation. Default 'dalponte'. */
  algorithm?: CrownAlgorithm;
  /** dalponte2016 parameters (lidR defaults). */
  thTree?: number;
  thSeed?: number;
  thCr?: number;
  /** dalponte2016 `max_cr`: maximum crown diameter in pixels, as lidR (default 10). */
  maxCr?: number;
  /** silva2016 parameters (lidR defaults 0.6 and 0.3). The watershed uses maxCrFactor to bound a crown's radius too. */
  maxCrFactor?: number;
  exclusion?: number;
  /** Build crown polygons (default true). */
  polygons?: boolean;
  /** Polygon simplification tolerance in pixels (default 0.5). */
  simplify?: number;
}

/** A crown outline in the CHM's native CRS: rings of [x, y]; ring 0 is the exterior (CCW), the rest holes (CW). */
export type CrownPolygon = Array<Array<[number, number]>>;

export interface Tree {
  /** Deterministic id: the top's global pixel index (row * rasterWidth + col), the same tiled or whole. */
  id: number;
  /** Top position (pixel centre) in the CHM's native CRS. */
  x: number;
  y: number;
  /** Top height in metres (of the CHM that was searched, smoothed if smoothing was asked for). */
  height: number;
  /** Crown area in m² (pixel count x pixel area); 0 when the crown did not grow. */
  crownArea: number;
  /** Diameter of the circle of the crown's area, in metres (as ForestTools' mcws). */
  crownDiameter: number;
}

export interface TreeResult {
  grid: Grid;
  trees: Tree[];
  /** Crown polygons, parallel to `trees` (null where a crown has no pixels, or polygons were not asked for). */
  crowns: Array<CrownPolygon | null>;
  /** Crown label per pixel of `grid`: the index into `trees` plus 1, 0 for no crown. */
  labels: Int32Array;
}
