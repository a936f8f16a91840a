import type { Affine, Crs, Grid, Window } from '../raster/types.ts';
import { InvalidInputError } from '../errors.ts';
import { isMercator, metresPerUnit, projector, utmCentralMeridian, utmCrsFor, WGS84 } from '../../tiles/projection.ts';

/**
 * The CHM's pixel grid: the source raster's extent, CRS and origin at the model's ground sample
 * distance. When the source is already at the model's GSD the grid is the source's own, pixel for
 * pixel. A source in degrees or Mercator gets a UTM grid instead (metricGrid). Pure arithmetic.
 */

/** Ground sample distance in metres along x and y (column and row step lengths) of a grid in a metric CRS (metricCrs). */
export function gridGsd(grid: Grid): [number, number] {
  const t = grid.transform, m = metresPerUnit(grid.crs);
  return [Math.hypot(t[1], t[4]) * m, Math.hypot(t[2], t[5]) * m];
}

/** Relative GSD difference below which the source grid is used as is (no resampling). */
const SAME_GSD = 1e-6;

export function modelGrid(source: Grid, gsd: number): Grid {
  if (!(gsd > 0)) throw new InvalidInputError(`model GSD must be positive, got ${gsd}`);
  if (!metricCrs(source.crs)) return metricGrid(source, gsd);
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

/**
 * Whether a CRS's units are ground metres (or a fixed multiple, feet): the CHM's pixels, tree
 * windows and crown areas are measured in them. Degrees and Mercator "metres" (cos(latitude)
 * ground metres) are not.
 */
export function metricCrs(crs: Crs): boolean {
  return crs.units !== 'degree' && !isMercator(crs);
}

/** Furthest a raster may reach from its UTM zone's central meridian (scale error under 1.3% there). */
const MAX_UTM_SPREAD_DEG = 9;
const EDGE_STEPS = 16;

/**
 * The CHM grid of a raster in degrees or Mercator (OpenAerialMap's Web Mercator, drone orthophotos
 * in WGS84): the UTM zone of its centre, north up, `gsd` metre pixels on multiples of `gsd`,
 * covering its footprint (the footprint's edges densified, as they bend in UTM). The imagery is
 * reprojected onto it as it is read, so the model sees true 0.5 m pixels and trees are found and
 * measured in metres.
 */
export function metricGrid(source: Grid, gsd: number): Grid {
  const t = source.transform;
  const toWgs = projector(source.crs, WGS84);
  const [lon, lat] = toWgs(t[0] + (source.width / 2) * t[1] + (source.height / 2) * t[2], t[3] + (source.width / 2) * t[4] + (source.height / 2) * t[5]);
  const utm = utmCrsFor(lon, lat);
  if (!utm) throw new InvalidInputError(`the raster's centre (${lon.toFixed(4)}, ${lat.toFixed(4)}) lies outside UTM's latitudes (80 S to 84 N): reproject it to a projected CRS of the area first (e.g. a polar stereographic one)`);
  const toUtm = projector(source.crs, utm);
  const cm = utmCentralMeridian(utm);
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  const corners: Array<[number, number]> = [[0, 0], [source.width, 0], [source.width, source.height], [0, source.height]];
  for (let i = 0; i < 4; i++) {
    const [c0, r0] = corners[i], [c1, r1] = corners[(i + 1) % 4];
    for (let k = 0; k < EDGE_STEPS; k++) {
      const c = c0 + ((c1 - c0) * k) / EDGE_STEPS, r = r0 + ((r1 - r0) * k) / EDGE_STEPS;
      const sx = t[0] + c * t[1] + r * t[2], sy = t[3] + c * t[4] + r * t[5];
      const [plon] = toWgs(sx, sy);
      if (Math.abs(((plon - cm + 540) % 360) - 180) > MAX_UTM_SPREAD_DEG) {
        throw new InvalidInputError(`the raster spans more than ${MAX_UTM_SPREAD_DEG}° of longitude from the centre of UTM zone ${utm.epsg}: split it, or reproject it to a projected CRS of the area first`);
      }
      const [x, y] = toUtm(sx, sy);
      if (x < minX) minX = x; if (x > maxX) maxX = x; if (y < minY) minY = y; if (y > maxY) maxY = y;
    }
  }
  if (![minX, minY, maxX, maxY].every(Number.isFinite)) throw new InvalidInputError(`the raster's footprint cannot be placed in UTM zone ${utm.epsg}`);
  const x0 = Math.floor(minX / gsd) * gsd, y0 = Math.ceil(maxY / gsd) * gsd;
  const width = Math.max(1, Math.ceil((maxX - x0) / gsd - 1e-6)), height = Math.max(1, Math.ceil((y0 - minY) / gsd - 1e-6));
  return { width, height, transform: [x0, gsd, 0, y0, 0, -gsd], crs: utm };
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
