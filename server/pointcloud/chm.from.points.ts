/**
 * A canopy height model from a point cloud: heights above ground (the cloud's own Z when it is
 * already normalised, else Z minus an IDW ground surface from class-2 points), then the highest
 * return per cell with lidR's p2r `subcircle`. Resolution and subcircle are in metres; a cloud in
 * feet keeps its CRS (the grid is in feet) and its heights are converted to metres.
 */
import { InvalidInputError } from '../errors.ts';
import type { Crs, RasterImage } from '../raster/types.ts';
import { dtmAt, idwDtm } from './ground.ts';
import type { PointCloud } from './las.reader.ts';
import { layoutTransform, overlayLayout, pointsToRaster } from './p2r.ts';

export interface ChmFromPointsOptions {
  /** Cell size in metres. */
  res: number;
  /** lidR p2r subcircle radius in metres (0 = off). */
  subcircle?: number;
  /** Overrides (or supplies) the CRS the file names. */
  crs?: Crs | null;
  /** 'auto': normalise unless the cloud's ground already sits at 0 (or it has no ground points). */
  ground?: 'auto' | 'normalised' | 'idw';
  /** Points lower than this height (m) are dropped (lidR examples drop Z < 0). */
  minHeight?: number;
  /** Maximum output cells (bounds memory). */
  maxCells?: number;
}

export interface ChmFromPoints {
  image: RasterImage;
  normalised: 'already' | 'idw';
  groundPoints: number;
}

/** LAS classes never used for a canopy surface: low and high noise. */
const NOISE = new Set([7, 18]);

export function chmFromPoints(cloud: PointCloud, o: ChmFromPointsOptions): ChmFromPoints {
  const crs = o.crs ?? cloud.crs;
  if (!crs) throw new InvalidInputError('the point cloud names no CRS (no GeoKey or WKT VLR): pass --crs EPSG:code');
  if (crs.units === 'degree') throw new InvalidInputError('the point cloud is in geographic coordinates; a CHM needs a projected CRS');
  if (!(o.res > 0 && o.res <= 1000)) throw new InvalidInputError(`res must be in (0, 1000] metres, got ${o.res}`);
  const subcircle = o.subcircle ?? 0;
  if (!(subcircle >= 0 && subcircle < 100)) throw new InvalidInputError(`subcircle must be in [0, 100) metres, got ${subcircle}`);
  const unit = crs.units === 'ft' ? 0.3048 : crs.units === 'us-ft' ? 1200 / 3937 : 1;
  const zScale = o.crs && o.crs.units !== (cloud.crs?.units ?? o.crs.units) ? unit : cloud.crs ? cloud.zMetresPerUnit : unit;
  const n = cloud.count;
  const { x, y, z, classification } = cloud;

  let xmin = Infinity, ymin = Infinity, xmax = -Infinity, ymax = -Infinity;
  for (let i = 0; i < n; i++) {
    if (x[i] < xmin) xmin = x[i]; if (x[i] > xmax) xmax = x[i];
    if (y[i] < ymin) ymin = y[i]; if (y[i] > ymax) ymax = y[i];
  }
  if (n === 0) throw new InvalidInputError('the point cloud has no points');

  // ground points decide whether the cloud is normalised
  const groundIdx: number[] = [];
  for (let i = 0; i < n; i++) if (classification[i] === 2) groundIdx.push(i);
  let mode = o.ground ?? 'auto';
  if (mode === 'auto') {
    if (groundIdx.length < 3) mode = 'normalised';
    else {
      const gz = groundIdx.map((i) => z[i] * zScale).sort((a, b) => a - b);
      mode = Math.abs(gz[gz.length >> 1]) < 0.5 ? 'normalised' : 'idw';
    }
  }
  const h = new Float64Array(n);
  if (mode === 'idw') {
    const gx = Float64Array.from(groundIdx, (i) => x[i]), gy = Float64Array.from(groundIdx, (i) => y[i]);
    const gz = Float64Array.from(groundIdx, (i) => z[i] * zScale);
    const dtm = idwDtm(gx, gy, gz, { xmin, ymin, xmax, ymax }, Math.max(o.res / unit, 1 / unit));
    for (let i = 0; i < n; i++) h[i] = z[i] * zScale - dtmAt(dtm, x[i], y[i]);
  } else {
    for (let i = 0; i < n; i++) h[i] = z[i] * zScale;
  }
  const minH = o.minHeight ?? 0;
  const layout = overlayLayout({ xmin, ymin, xmax, ymax }, o.res / unit, subcircle / unit);
  const maxCells = o.maxCells ?? 20000 * 20000;
  if (layout.width * layout.height > maxCells) {
    throw new InvalidInputError(`a ${layout.width} x ${layout.height} CHM exceeds ${maxCells} cells: use a coarser --res`);
  }
  const chm = pointsToRaster(x, y, h, layout, subcircle / unit, (i) => !NOISE.has(classification[i]) && h[i] >= minH);
  let mask: Uint8Array | null = null;
  for (let i = 0; i < chm.length; i++) {
    if (chm[i] !== chm[i]) { mask ??= new Uint8Array(chm.length).fill(1); mask[i] = 0; }
  }
  return {
    image: { grid: { width: layout.width, height: layout.height, transform: layoutTransform(layout), crs }, bands: [chm], mask },
    normalised: mode === 'idw' ? 'idw' : 'already',
    groundPoints: groundIdx.length,
  };
}
