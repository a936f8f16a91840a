import type { Affine, Crs, Grid, Window } from '../raster/types.ts';
import { InvalidInputError } from '../errors.ts';
import { isMercator, mercatorGroundScale, metresPerUnit } from '../../tiles/projection.ts';

/**
 * The CHM's pixel grid: the source raster's extent, CRS and origin at the model's ground sample
 * distance. When the source is already at the model's GSD the grid is the source's own, pixel for
 * pixel. Pure arithmetic.
 */

/** Ground sample distance of a grid in metres along x and y (column and row step lengths). */
export function gridGsd(grid: Grid): [number, number] {
  const t = grid.transform;
  const centreX = t[0] + (grid.width / 2) * t[1] + (grid.height / 2) * t[2];
  const centreY = t[3] + (grid.width / 2) * t[4] + (grid.height / 2) * t[5];
  // a Mercator "metre" is cos(latitude) ground metres: Web Mercator imagery at 50 N fed to the
  // model as 0.5 m pixels would be 0.32 m ones
  if (isMercator(grid.crs)) {
    const m = mercatorGroundScale(grid.crs, centreX, centreY);
    return [Math.hypot(t[1], t[4]) * m, Math.hypot(t[2], t[5]) * m];
  }
  const my = metresPerUnit(grid.crs);
  // a degree of longitude shrinks with latitude; a degree of latitude does not (spherical)
  const mx = grid.crs.units === 'degree' ? my * Math.cos((centreY * Math.PI) / 180) : my;
  return [Math.hypot(t[1] * mx, t[4] * my), Math.hypot(t[2] * mx, t[5] * my)];
}

/** Relative GSD difference below which the source grid is used as is (no resampling). */
const SAME_GSD = 1e-6;

export function modelGrid(source: Grid, gsd: number): Grid {
  if (!(gsd > 0)) throw new InvalidInputError(`model GSD must be positive, got ${gsd}`);
  const [gx, gy] = gridGsd(source);
  if (!(gx > 0 && gy > 0)) throw new InvalidInputError('the raster has a degenerate pixel size');
  if (Math.abs(gx - gsd) <= SAME_GSD * gsd && Math.abs(gy - gsd) <= SAME_GSD * gsd) return source;
  const fx = gsd / gx, fy = gsd / gy;
  const t = source.transform;
  // ceil, less a hair of float noise, so the CHM covers the whole source extent
  const width = Math.max(1, Math.ceil(source.width / fx - 1e-6));
  const height = Math.max(1, Math.ceil(source.height / fy - 1e-6));
  const transform: Affine = [t[0], t[1] * fx, t[2] * fy, t[3], t[4] * fx, t[5] * fy];
  return { width, height, transform, crs: source.crs };
}

/** The sub-grid of `grid` a window covers (windows may extend past the grid's edges). */
export function windowGrid(grid: Grid, w: Window): Grid {
  const t = grid.transform;
  const transform: Affine = [t[0] + w.x * t[1] + w.y * t[2], t[1], t[2], t[3] + w.x * t[4] + w.y * t[5], t[4], t[5]];
  return { width: w.width, height: w.height, transform, crs: grid.crs };
}

/** True when two grids are the same pixels (the CHM is read without resampling). */
export function sameGrid(a: Grid, b: Grid): boolean {
  return a.width === b.width && a.height === b.height && a.transform.every((v, i) => v === b.transform[i]);
}
