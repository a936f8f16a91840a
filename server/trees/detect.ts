/**
 * Tree by tree from a CHM: tops (lmf), crowns (dalponte | silva | watershed), crown polygons and
 * per-tree metrics. `delineateWindow` is the one implementation; `detectTrees` runs it on a whole
 * raster and tiled.ts runs it on tiles with halos, keeping the trees whose tops fall in each core.
 */
import { InvalidInputError } from '../errors.ts';
import { isMercator, metresPerUnit } from '../../tiles/projection.ts';
import type { Affine, Crs, Grid, RasterImage } from '../raster/types.ts';
import { dalponte2016 } from './dalponte.ts';
import { findTops, maxWindowRadius, windowRadiusRange } from './lmf.ts';
import { keepSeedComponents, pixelsByLabel, ringsToMap, simplifyRings, traceRings } from './polygons.ts';
import { silva2016 } from './silva.ts';
import { smoothChm, smoothRadius } from './smooth.ts';
import type { CrownPolygon, Tree, TreeOptions, TreeResult } from './types.ts';
import { watershed } from './watershed.ts';
import { DEFAULT_WS, parseWindowSize } from './window.expression.ts';

const DEFAULT_WINDOW = parseWindowSize(DEFAULT_WS);

export type ResolvedTreeOptions = Required<Omit<TreeOptions, 'smooth'>> & Pick<TreeOptions, 'smooth'>;

export function resolveTreeOptions(opts: TreeOptions = {}): ResolvedTreeOptions {
  const o: ResolvedTreeOptions = {
    ws: opts.ws ?? DEFAULT_WINDOW,
    hmin: opts.hmin ?? 2,
    shape: opts.shape ?? 'circular',
    smooth: opts.smooth ?? null,
    algorithm: opts.algorithm ?? 'dalponte',
    thTree: opts.thTree ?? 2,
    thSeed: opts.thSeed ?? 0.45,
    thCr: opts.thCr ?? 0.55,
    maxCr: opts.maxCr ?? 10,
    maxCrFactor: opts.maxCrFactor ?? 0.6,
    exclusion: opts.exclusion ?? 0.3,
    polygons: opts.polygons ?? true,
    simplify: opts.simplify ?? 0.5,
  };
  if (typeof o.ws === 'number' && !(o.ws > 0 && o.ws < 1000)) throw new InvalidInputError(`ws must be a window diameter in metres in (0, 1000), got ${o.ws}`);
  if (!(o.hmin >= 0)) throw new InvalidInputError(`hmin must be >= 0, got ${o.hmin}`);
  if (!['dalponte', 'silva', 'watershed'].includes(o.algorithm)) throw new InvalidInputError(`unknown crown algorithm '${o.algorithm}' (dalponte, silva or watershed)`);
  for (const [k, v] of [['thSeed', o.thSeed], ['thCr', o.thCr], ['exclusion', o.exclusion]] as const) {
    if (!(v >= 0 && v <= 1)) throw new InvalidInputError(`${k} must be in [0, 1], got ${v}`);
  }
  if (!(o.maxCr >= 1 && o.maxCr <= 1000)) throw new InvalidInputError(`maxCr must be in [1, 1000] pixels, got ${o.maxCr}`);
  if (!(o.maxCrFactor > 0 && o.maxCrFactor <= 5)) throw new InvalidInputError(`maxCrFactor must be in (0, 5], got ${o.maxCrFactor}`);
  return o;
}

/**
 * Pixels of context a tile needs on each side so its core's trees come out as if the raster were
 * processed whole: smoothing, two window radii (a top and its tie partner), and how far a crown
 * reaches from its top (twice, for crowns competing for pixels). `hmax` bounds tree height (m).
 */
export function requiredHalo(opts: TreeOptions, resX: number, resY: number, hmax = 60): number {
  const o = resolveTreeOptions(opts);
  const res = Math.min(resX, resY);
  checkWindowReach(o, res, hmax);
  const lmf = Math.ceil((2 * maxWindowRadius(o.ws, o.hmin, hmax)) / res) + 1;
  const crown = o.algorithm === 'dalponte' ? o.maxCr : Math.ceil((o.maxCrFactor * hmax) / res);
  return smoothRadius(o.smooth) + lmf + 2 * crown + 2;
}

/**
 * lmf's window holds the pixels within ws/2 of its centre: one narrower than two pixels holds only
 * its own, and every pixel above hmin becomes a tree (millions per km², outputs of gigabytes).
 * Refused, saying the smallest width the window reaches and the least that works.
 */
function checkWindowReach(o: ResolvedTreeOptions, res: number, hmax: number): void {
  const { min, minAt } = windowRadiusRange(o.ws, o.hmin, hmax);
  if (min >= res - 1e-9) return;
  const at = typeof o.ws === 'number' ? '' : ` at height ${Number(minAt.toFixed(2))} m`;
  throw new InvalidInputError(`"ws": the window is ${Number((2 * min).toFixed(3))} m across${at}, less than two of the CHM's ${Number(res.toFixed(3))} m pixels: it would hold only its own pixel and make every pixel above hmin a tree; use at least ${Number((2 * res).toFixed(3))} m`);
}

/** requiredHalo on a CHM grid: its pixel size in metres, whatever the CRS's linear unit. */
export function gridHalo(opts: TreeOptions, grid: Grid, hmax?: number): number {
  const [resX, resY] = groundPixelSize(grid);
  return requiredHalo(opts, resX, resY, hmax);
}

/** A grid's pixel area in square ground metres (unitScale: refuses grids not in metres or feet). */
export function groundPixelArea(grid: Grid): number {
  const t = grid.transform;
  return Math.abs(t[1] * t[5] - t[2] * t[4]) * unitScale(grid.crs) ** 2;
}

/** A CHM grid's pixel size in ground metres along x and y (unitScale: refuses grids not in metres or feet). */
function groundPixelSize(grid: Grid): [number, number] {
  const m = unitScale(grid.crs), t = grid.transform;
  return [Math.hypot(t[1], t[4]) * m, Math.hypot(t[2], t[5]) * m];
}

/** A CHM window and where it sits in the whole raster. */
export interface ChmWindow {
  /** Heights, row-major, NaN where there is no data. */
  chm: Float32Array;
  width: number;
  height: number;
  /** Window origin in the whole raster's pixels, and the raster's size and transform. */
  offsetX: number;
  offsetY: number;
  rasterWidth: number;
  rasterHeight: number;
  transform: Affine;
  /** Metres per CRS unit (1 for metric CRSs; 0.3048 for feet): windows and areas are in metres. */
  metresPerUnit?: number;
  /** The part of the window whose trees (by top) this call reports; window pixel coordinates. */
  core: { x0: number; y0: number; x1: number; y1: number };
}

export interface WindowTrees {
  trees: Tree[];
  crowns: Array<CrownPolygon | null>;
  /** Window labels: index into `trees` + 1 for reported crowns, 0 elsewhere. */
  labels: Int32Array;
}

export function delineateWindow(w: ChmWindow, o: ResolvedTreeOptions): WindowTrees {
  const { width, height, transform: t } = w;
  const m = w.metresPerUnit ?? 1;
  const resX = Math.hypot(t[1], t[4]) * m, resY = Math.hypot(t[2], t[5]) * m;
  const chm = o.smooth ? smoothChm(w.chm, width, height, o.smooth) : w.chm;
  const seeds = findTops(chm, width, height, { ws: o.ws, hmin: o.hmin, shape: o.shape, resX, resY });

  let labels: Int32Array;
  if (o.algorithm === 'dalponte') {
    labels = dalponte2016(chm, width, height, seeds, { thTree: o.thTree, thSeed: o.thSeed, thCr: o.thCr, maxCr: o.maxCr }, {
      left: w.offsetX === 0, top: w.offsetY === 0,
      right: w.offsetX + width === w.rasterWidth, bottom: w.offsetY + height === w.rasterHeight,
    });
  } else if (o.algorithm === 'silva') {
    labels = silva2016(chm, width, height, seeds, { maxCrFactor: o.maxCrFactor, exclusion: o.exclusion, resX, resY });
  } else {
    labels = watershed(chm, width, height, seeds, { thTree: o.thTree, maxCrFactor: o.maxCrFactor, resX, resY });
  }
  // Dalponte and the watershed grow crowns pixel by pixel from the seed, so they are connected;
  // Silva's Voronoi cells cut by the height threshold may not be
  if (o.algorithm === 'silva') keepSeedComponents(labels, width, height, seeds);

  // keep the trees whose tops lie in the core; renumber their crowns 1..n
  const remap = new Int32Array(seeds.length + 1);
  const owned: number[] = [];
  for (let k = 0; k < seeds.length; k++) {
    const s = seeds[k];
    const x = s % width, y = (s / width) | 0;
    if (x >= w.core.x0 && x < w.core.x1 && y >= w.core.y0 && y < w.core.y1) { owned.push(k); remap[k + 1] = owned.length; }
  }
  const counts = renumberAndCount(labels, remap, owned.length, owned.length === seeds.length);
  const byLabel = o.polygons ? pixelsByLabel(labels, owned.length, counts) : null;
  const pixelArea = Math.abs(t[1] * t[5] - t[2] * t[4]) * m * m;
  const visited = o.polygons ? new Uint8Array(width * height) : null;
  const trees: Tree[] = [];
  const crowns: Array<CrownPolygon | null> = [];
  for (let n = 0; n < owned.length; n++) {
    const s = seeds[owned[n]];
    const x = s % width, y = (s / width) | 0;
    const gx = x + w.offsetX, gy = y + w.offsetY;
    const count = counts[n + 1];
    const area = count * pixelArea;
    trees.push({
      id: gy * w.rasterWidth + gx,
      x: t[0] + (gx + 0.5) * t[1] + (gy + 0.5) * t[2],
      y: t[3] + (gx + 0.5) * t[4] + (gy + 0.5) * t[5],
      height: chm[s],
      crownArea: area,
      crownDiameter: 2 * Math.sqrt(area / Math.PI),
    });
    if (!byLabel || !visited || count === 0) { crowns.push(null); continue; }
    const { start, pixels } = byLabel;
    const rings = traceRings(labels, width, height, n + 1, pixels.subarray(start[n + 1], start[n + 2]), visited, w.offsetX, w.offsetY);
    crowns.push(ringsToMap(simplifyRings(rings, o.simplify), t));
  }
  return { trees, crowns, labels };
}

/**
 * Renumbers crown labels through `remap` (in place; skipped when every tree is kept, where it is
 * the identity) and counts each crown's pixels in the same scan. A pass over every pixel of the
 * window, so alone in its function: see sortedByLabel in polygons.ts for why.
 */
function renumberAndCount(labels: Int32Array, remap: Int32Array, nKept: number, keepAll: boolean): Int32Array {
  const counts = new Int32Array(nKept + 1);
  if (keepAll) {
    for (let i = 0; i < labels.length; i++) { const l = labels[i]; if (l !== 0) counts[l]++; }
    return counts;
  }
  for (let i = 0; i < labels.length; i++) {
    const k = labels[i];
    if (k === 0) continue;
    const l = remap[k];
    labels[i] = l;
    if (l !== 0) counts[l]++;
  }
  return counts;
}

function chmPlane(image: RasterImage): Float32Array {
  const band = image.bands[0];
  if (!band) throw new InvalidInputError('the CHM has no bands');
  const mask = image.mask;
  if (!mask) return band;
  const out = new Float32Array(band);
  for (let i = 0; i < out.length; i++) if (!mask[i]) out[i] = NaN;
  return out;
}

/** Every tree of a CHM held in memory (band 0, metres; mask/NaN = no data). */
export function detectTrees(chm: RasterImage, opts: TreeOptions = {}): TreeResult {
  const o = resolveTreeOptions(opts);
  const { width, height, transform } = chm.grid;
  checkWindowReach(o, Math.min(...groundPixelSize(chm.grid)), 60);
  const r = delineateWindow({
    chm: chmPlane(chm), width, height, offsetX: 0, offsetY: 0, rasterWidth: width, rasterHeight: height,
    transform, metresPerUnit: unitScale(chm.grid.crs), core: { x0: 0, y0: 0, x1: width, y1: height },
  }, o);
  return { grid: chm.grid, trees: r.trees, crowns: r.crowns, labels: r.labels };
}

/** Metres per unit of a projected CRS; a geographic CHM cannot be searched with windows in metres. */
export function unitScale(crs: Crs): number {
  if (crs.units === 'degree') throw new InvalidInputError('the raster is in geographic coordinates (degrees): tree detection measures windows and crowns in metres; reproject it to a projected CRS first (e.g. gdalwarp -t_srs EPSG:326NN, the UTM zone of the area)');
  // its metres are ground metres only at the equator: crowns at 50 N would come out 2.4 times too large
  if (isMercator(crs)) throw new InvalidInputError(`the raster is in a Mercator projection (${crs.name ?? crs.proj4}), whose metres are cos(latitude) ground metres: tree windows and crown areas would be wrong; reproject it to a projected CRS of the area first (e.g. gdalwarp -t_srs EPSG:326NN, the UTM zone of the area)`);
  return metresPerUnit(crs);
}

export { chmPlane };
