/**
 * The forest-map pipeline, shared by the HTTP jobs and `forestmap process`:
 *   plan (validate the request against the raster and model; pure data, stored with the job)
 *   → units (CHM blocks, then trees tiles; through a WorkQueue, so finished ones are reused)
 *   → export (trees/crowns GeoJSON clipped to the region, the region's CHM as a COG, statistics).
 *
 * Planning is deterministic: a resumed job re-plans the same units from its stored plan.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openRaster } from '../raster/source.ts';
import type { Grid, Window } from '../raster/types.ts';
import { writeCog } from '../raster/cog.writer.ts';
import { resolveModel } from '../model/registry.ts';
import { modelKeyOf } from '../model/manifest.ts';
import { chmGridOf } from '../chm/block.ts';
import { chmCacheKeyOf, findCachedChm } from '../chm/cache.ts';
import { checkImagery, CHM_COMPRESSION, CHM_NODATA } from '../chm/engine.ts';
import { sameGrid, windowGrid } from '../chm/model.grid.ts';
import { groundPixelArea, unitScale } from '../trees/detect.ts';
import { projector, sameCrs, WGS84 } from '../../tiles/projection.ts';
import { CancelledError, ConflictError, InvalidInputError, LimitExceededError } from '../errors.ts';
import {
  containsPoint as containsTop, defaultRegionLimits, parseRegion, regionPixelCount, regionSpans, regionToPlanar, regionTouchesGrid, regionWindow,
  type PlanarRegion, type Region, type RegionLimits,
} from '../features/region.ts';
import { RegionStatsAccumulator, type RegionStatistics } from '../features/stats.ts';
import { RegionPartsAccumulator, type PartStatistics } from '../features/region.parts.ts';
import { writeFileAtomic, type WorkQueue, type WorkUnit } from './queue.ts';
import { OUTPUT_FILES, type ForestMapRequest, type OutputName } from './process.forest-map.ts';
import {
  blocksOverlapping, blocksTouching, chmUnit, defaultResources, readTreesUnit, treesHalo, treesUnit, unitKindConcurrency,
  type RasterRef, type UnitContext, type UnitSpec,
} from './units.ts';
import { GeoJsonFileWriter } from './geojson.export.ts';
import { chmCover, unionArea, type LatticeTile } from './chm.cover.ts';
import { assertHeightsAboveGround } from '../chm/heights.check.ts';
import { detectionPool } from '../trees/detect.pool.ts';
import { TreeFeatures } from '../features/geojson.ts';
import { treeCount, treeId, unpackTree, type PackedTrees } from '../trees/packed.ts';
import { fileVersion } from '../raster/file.version.ts';

export { fileVersion };

export interface ForestMapPlan {
  ctx: UnitContext;
  region: Region;
  outputs: OutputName[];
  /**
   * km² of the trees tiles the region touches, with their margins (and the CHM under them): what
   * the job costs, whatever the region's area (absent from plans stored by older builds).
   */
  workKm2?: number;
}

export interface PlanOptions {
  resolveRaster(id: string): Promise<RasterRef> | RasterRef;
  regionLimits?: RegionLimits;
  /** The CLI may name a model directory; the HTTP API only names registered models. */
  allowModelPaths?: boolean;
  /** Where computed whole-raster CHMs are cached (server/chm/cache.ts); reused when present. */
  varDir?: string;
  tileSize?: number;
  blockSize?: number;
}

export const DEFAULT_TILE_SIZE = 512;
/**
 * CHM block edge (model-grid pixels). Each block recomputes the model windows along its borders and
 * restarts the engine's pipeline, so larger blocks waste less: 8192 px blocks made a 1 km² job 12%
 * faster than 4096 px ones (a region straddling block lines; bench/region --one). At 0.5 m a block
 * is 16.8 km², about a minute of the default model on two cores: still a fine grain for resuming
 * after a crash and for spreading a large job over workers.
 */
export const DEFAULT_BLOCK_SIZE = 8192;

/** Validates a request against its raster and model and fixes every choice the units depend on. */
export async function planForestMap(req: ForestMapRequest, opts: PlanOptions): Promise<ForestMapPlan> {
  const raster = await opts.resolveRaster(req.raster);
  const source = await openRaster(raster.path);
  let grid: Grid;
  let modelKey: string | null = null;
  let model: string | null = null;
  let chm: UnitContext['chm'] = { kind: 'raster' };
  if (req.model !== null && !opts.allowModelPaths && /[/\\]|^\.|\.onnx$/i.test(req.model)) {
    throw new InvalidInputError(`input "model" must be the name of a registered model, not a path: '${req.model}'`);
  }
  if (raster.role === 'image') {
    const manifest = await resolveModel(req.model ?? undefined);
    checkImagery(source.metadata, manifest, raster.id);
    model = opts.allowModelPaths ? (req.model ?? manifest.name) : manifest.name;
    modelKey = modelKeyOf(manifest);
    grid = chmGridOf(source, manifest);
    const cached = opts.varDir ? await findCachedChm(opts.varDir, chmCacheKeyOf(raster, manifest)) : null;
    // a CHM cached by an older build may lie on another grid (a Mercator raster's was Mercator once)
    const fits = cached ? await openRaster(cached.path).then((c) => sameCrs(c.grid.crs, grid.crs) && sameGrid(c.grid, grid), () => false) : false;
    chm = cached && fits ? { kind: 'file', path: cached.path, version: `${raster.version}/${modelKey}` } : { kind: 'blocks' };
  } else {
    // a CHM needs no model, but a model name that does not exist is still a mistake to report
    if (req.model !== null) await resolveModel(req.model);
    grid = source.grid;
    // a CHM in degrees cannot be searched with windows in metres: say so now
    await assertHeightsAboveGround(source, `raster '${raster.id}'`, unitScale(grid.crs));
  }
  const limits = opts.regionLimits ?? defaultRegionLimits;
  const region = req.region === null ? parseRegion(footprint(source.grid), limits) : parseRegion(req.region, limits);
  const planar = regionToPlanar(region, projector(WGS84, grid.crs));
  if (!regionTouchesGrid(planar, grid)) {
    if (regionWindow(planar, grid)) {
      const pixel = Math.hypot(grid.transform[1], grid.transform[4]);
      throw new InvalidInputError(`the region holds no pixel centre of raster '${raster.id}': it must cover at least one of its ${Number(pixel.toPrecision(3))} ${grid.crs.units} pixels`, { regionBbox: region.bbox });
    }
    const b = source.metadata.wgs84Bounds.map((v) => v.toFixed(6)).join(', ');
    throw new InvalidInputError(`the region does not overlap raster '${raster.id}' (the raster covers [${b}] in WGS84 lon/lat)`, { rasterBounds: source.metadata.wgs84Bounds, regionBbox: region.bbox });
  }
  const tileSize = opts.tileSize ?? DEFAULT_TILE_SIZE;
  const blockSize = Math.max(tileSize, Math.round((opts.blockSize ?? DEFAULT_BLOCK_SIZE) / tileSize) * tileSize);
  const ctx: UnitContext = { raster, model, modelKey, trees: req.trees, chm, tileSize, halo: treesHalo(req.trees, grid), blockSize };
  const workKm2 = checkRegionWork(planar, grid, ctx, limits.maxAreaKm2);
  return { ctx, region, outputs: req.outputs, workKm2 };
}

/**
 * Bounds what a region within the area limit can still make a job do. Its work is the trees tiles
 * it touches with their halos (and the CHM under them): a thin or scattered region touches far more
 * than its area, so that is held to twice the area limit plus 1 km², which any compact region
 * within the limit stays under. Its bounding box is the extent of chm.tif (nodata between the
 * parts), held to 16 times the area limit. Returns the work in km².
 */
export function checkRegionWork(planar: PlanarRegion, grid: Grid, ctx: UnitContext, maxAreaKm2: number): number {
  const win = regionWindow(planar, grid);
  if (!win) return 0;
  const pixelKm2 = groundPixelArea(grid) / 1e6;
  const km2 = (v: number) => Number(v.toPrecision(3));
  const maxExtentKm2 = 16 * maxAreaKm2;
  const extentKm2 = win.width * win.height * pixelKm2;
  if (extentKm2 > maxExtentKm2) {
    throw new LimitExceededError(`the region's bounding box covers ${km2(extentKm2)} km², more than the ${km2(maxExtentKm2)} km² allowed (16 times the ${maxAreaKm2} km² area limit); chm.tif covers that box: submit parts this far apart as separate jobs`, { extentKm2, maxExtentKm2 });
  }
  const maxWorkKm2 = 2 * maxAreaKm2 + 1;
  const workKm2 = unionArea(regionTiles(planar, grid, win, ctx.tileSize, ctx.halo).flat().map((tile) => tile.read)) * pixelKm2;
  if (workKm2 > maxWorkKm2) {
    throw new LimitExceededError(`the region touches ${km2(workKm2)} km² of ${ctx.tileSize} px tiles (with the ${ctx.halo} px margin tree detection needs), more than the ${km2(maxWorkKm2)} km² allowed (twice the ${maxAreaKm2} km² area limit, plus 1 km²): a long thin or scattered region costs what its tiles cover, not its area; split it into compact parts`, { workKm2, maxWorkKm2 });
  }
  return workKm2;
}

/** The raster's footprint as a WGS84 polygon (edges densified so the geodesic area is right). */
function footprint(grid: Grid): { type: 'Polygon'; coordinates: number[][][] } {
  const toWgs = projector(grid.crs, WGS84);
  const t = grid.transform;
  const corners: Array<[number, number]> = [[0, 0], [0, grid.height], [grid.width, grid.height], [grid.width, 0]];
  const ring: number[][] = [];
  const steps = 16;
  for (let i = 0; i < 4; i++) {
    const [c0, r0] = corners[i], [c1, r1] = corners[(i + 1) % 4];
    for (let k = 0; k < steps; k++) {
      const c = c0 + ((c1 - c0) * k) / steps, r = r0 + ((r1 - r0) * k) / steps;
      ring.push(toWgs(t[0] + c * t[1] + r * t[2], t[3] + c * t[4] + r * t[5]));
    }
  }
  ring.push([...ring[0]]);
  return { type: 'Polygon', coordinates: [ring] };
}

/** Where the job stands, for progress bars: fraction 0-1 and a message. */
export type PipelineProgress = (fraction: number, message: string) => void;

export interface PipelineRun {
  plan: ForestMapPlan;
  queue: WorkQueue<UnitSpec>;
  /** Resolves unit keys to their stored outputs (the queue's result paths). */
  pathOf: (key: string) => string;
  outDir: string;
  jobId: string;
  signal: AbortSignal;
  progress?: PipelineProgress;
}

/** Statistics of a job's region, and of each of its features when it has several. */
export type JobStatistics = RegionStatistics & { parts?: PartStatistics[] };

/** What the exports add their trees and CHM pixels to. */
interface JobStats {
  region: RegionStatsAccumulator;
  parts: RegionPartsAccumulator | null;
}

export interface PipelineSummary {
  /** The whole region's; `parts`: each feature's, for a region given as a FeatureCollection of several. */
  statistics: JobStatistics;
  outputs: Partial<Record<OutputName, string>>;
  /**
   * Units of the job: CHM blocks, trees tiles, and of those tiles how many hold trees taken from
   * the server's tree store instead of detected (now or by an earlier job sharing the tile).
   */
  units: { chm: number; trees: number; treesFromStore: number };
  /** Wall seconds per stage (units already done by an earlier run cost ~0); the CHM export and the GeoJSON run within `trees`, `export` is what is left of them after it. */
  seconds: { chm: number; trees: number; export: number };
  /**
   * CPU seconds of this process per stage, every thread counted (model sessions, detection threads,
   * compression, V8's own threads): where a job's cores went. Other jobs running meanwhile count too.
   */
  cpuSeconds: { chm: number; trees: number; export: number };
}

interface Layout {
  grid: Grid;
  planar: PlanarRegion;
  regionWin: Window;
  /** Tile cores (row-major), grouped by tile row. */
  tileRows: Window[][];
  treesUnits: WorkUnit<UnitSpec>[];
  chmUnits: WorkUnit<UnitSpec>[];
  /** The CHM blocks the job computes (its 'chm' units' windows), row-major. */
  blocks: Window[];
}

/** A trees tile of a region: its lattice cell, its core (the cell cut to the box of its region pixels) and what it reads (core plus halo). */
export interface RegionTile extends LatticeTile {
  core: Window;
}

/**
 * The trees tiles of a region, row by row: cells of the global tileSize lattice that hold region
 * pixels (the empty corners of an irregular region, and the gaps between a MultiPolygon's parts,
 * have none), each cut to the box of its region pixels. A tree is the region's when its top, a
 * pixel centre, is, so no tree of the region lies outside those boxes; a small part of a
 * MultiPolygon costs its own size, not whole cells. Interior cells stay whole, so their outputs
 * are shared with other jobs.
 */
export function regionTiles(planar: PlanarRegion, grid: Grid, regionWin: Window, T: number, h: number): RegionTile[][] {
  const tx0 = Math.floor(regionWin.x / T), ty0 = Math.floor(regionWin.y / T);
  const cols = Math.floor((regionWin.x + regionWin.width - 1) / T) - tx0 + 1;
  const rows = Math.floor((regionWin.y + regionWin.height - 1) / T) - ty0 + 1;
  // per cell, the box of its region pixels (grid coordinates, inclusive); x0 > x1 while it has none
  const x0s = new Int32Array(cols * rows).fill(2 ** 31 - 1), x1s = new Int32Array(cols * rows).fill(-1);
  const y0s = new Int32Array(cols * rows), y1s = new Int32Array(cols * rows);
  regionSpans(planar, grid, regionWin, (row, c0, c1) => {
    const y = regionWin.y + row, ty = Math.floor(y / T) - ty0;
    const gx0 = regionWin.x + c0, gx1 = regionWin.x + c1;
    for (let tx = Math.floor(gx0 / T); tx <= Math.floor(gx1 / T); tx++) {
      const i = ty * cols + tx - tx0;
      if (x1s[i] < 0) (y0s[i] = y);
      x0s[i] = Math.min(x0s[i], Math.max(gx0, tx * T));
      x1s[i] = Math.max(x1s[i], Math.min(gx1, tx * T + T - 1));
      y1s[i] = y;
    }
  });
  const out: RegionTile[][] = [];
  for (let r = 0; r < rows; r++) {
    const line: RegionTile[] = [];
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (x1s[i] < 0) continue;
      const core: Window = { x: x0s[i], y: y0s[i], width: x1s[i] - x0s[i] + 1, height: y1s[i] - y0s[i] + 1 };
      const rx0 = Math.max(0, core.x - h), ry0 = Math.max(0, core.y - h);
      const read: Window = { x: rx0, y: ry0, width: Math.min(grid.width, core.x + core.width + h) - rx0, height: Math.min(grid.height, core.y + core.height + h) - ry0 };
      line.push({ tx: tx0 + c, ty: ty0 + r, core, read });
    }
    if (line.length) out.push(line);
  }
  return out;
}

/** The ConflictError for a job whose raster is no longer the version it was planned on, or null. */
function rasterChanged(ctx: UnitContext, when: string): ConflictError | null {
  const now = fileVersion(ctx.raster.path);
  return now === ctx.raster.version ? null : new ConflictError(`raster '${ctx.raster.id}' was ${now === null ? 'removed' : 'replaced'} ${when}; submit the job again`);
}

async function layout(plan: ForestMapPlan): Promise<Layout> {
  const { ctx } = plan;
  const changed = rasterChanged(ctx, 'after the job was submitted');
  if (changed) throw changed;
  const source = await openRaster(ctx.raster.path);
  const grid = ctx.raster.role === 'image' ? chmGridOf(source, await resolveModel(ctx.model ?? undefined)) : source.grid;
  const planar = regionToPlanar(plan.region, projector(WGS84, grid.crs));
  const regionWin = regionWindow(planar, grid);
  if (!regionWin) throw new InvalidInputError(`the region does not overlap raster '${ctx.raster.id}'`);
  const tiles = regionTiles(planar, grid, regionWin, ctx.tileSize, ctx.halo);
  const tileRows = tiles.map((line) => line.map((t) => t.core));
  // the CHM this job computes: where its trees tiles read, cut along the block lattice (interior
  // cells of large regions are whole cells, shared by every job covering them)
  const blocks = ctx.chm.kind === 'blocks'
    ? chmCover(tiles.flat()).flatMap((w) => blocksTouching(grid, ctx.blockSize, w, w)).sort((a, b) => a.y - b.y || a.x - b.x)
    : [];
  const chmUnits = blocks.map((b) => chmUnit(ctx, b));
  const treesUnits = tiles.flat().map(({ core, read }) => treesUnit(ctx, core, read, ctx.chm.kind === 'blocks' ? blocksOverlapping(blocks, read) : undefined));
  return { grid, planar, regionWin, tileRows, treesUnits, chmUnits, blocks };
}

/**
 * Runs a planned job to the end: CHM units, then trees units beside the CHM export and the
 * GeoJSON, which takes each row of tiles as its trees are found (finished units are reused). A
 * raster removed or replaced while the job runs fails it with a ConflictError: its units are
 * forgotten then, and reads after a replacement would see another file than the one the units are
 * keyed by.
 */
export async function runForestMap(run: PipelineRun): Promise<PipelineSummary> {
  try {
    const summary = await runStages(run);
    const changed = rasterChanged(run.plan.ctx, 'while the job ran');
    if (changed) throw changed;
    return summary;
  } catch (err) {
    if (err instanceof ConflictError) throw err;
    // whatever a stage tripped over (a forgotten unit's file, say), the reason is the raster
    throw rasterChanged(run.plan.ctx, 'while the job ran') ?? err;
  }
}

async function runStages(run: PipelineRun): Promise<PipelineSummary> {
  const { plan, queue, signal } = run;
  const report = run.progress ?? (() => undefined);
  const lay = await layout(plan);
  const nChm = lay.chmUnits.length, nTrees = lay.treesUnits.length;
  // progress weights: a CHM block (inference) costs far more than a trees tile
  const chmShare = nChm ? 0.85 : 0;
  const treesShare = 0.95 - chmShare;
  // the trees stage detects on the detection threads: let them load while the CHM is computed
  if (nTrees) void detectionPool().warm();
  const t0 = performance.now(), c0 = process.cpuUsage();
  if (nChm) {
    await queue.run(`${run.jobId}/chm`, lay.chmUnits, {
      signal, onProgress: (d, t) => report((chmShare * d) / t, `canopy height: block ${Math.min(t, Math.floor(d) + 1)} of ${t}`),
    });
  }
  const t1 = performance.now(), c1 = process.cpuUsage();
  // blocks of a raster that changed meanwhile may be gone or of the old file: stop here
  const changed = rasterChanged(plan.ctx, 'while the job ran');
  if (changed) throw changed;
  mkdirSync(run.outDir, { recursive: true });
  removeStaleTemporaries(run.outDir);
  const stats: JobStats = {
    region: new RegionStatsAccumulator(),
    parts: plan.region.parts ? new RegionPartsAccumulator(plan.region, lay.planar, lay.grid) : null,
  };
  const outputs: Partial<Record<OutputName, string>> = {};
  // the CHM's export needs only the CHM: it runs beside the trees stage, whose work is on the
  // detection threads, and then beside the GeoJSON (main-thread work; the COG's compression runs
  // on libuv's threads). The statistics they share are sums and a sorted list: the order of adds
  // does not matter
  const chmExport = exportChm(run, lay, stats, outputs);
  chmExport.catch(() => undefined); // awaited below, whichever way the trees stage ends
  // the GeoJSON takes each row of tiles as soon as its trees are found: on two cores, written
  // after the trees stage it left one core idle for its whole length
  const rows = new TileRowGate(lay.tileRows.map((line) => line.length));
  const treesExport = exportTrees(run, lay, stats, outputs, rows);
  treesExport.catch(() => undefined);
  try {
    await queue.run(`${run.jobId}/trees`, lay.treesUnits, {
      concurrency: unitKindConcurrency(1).trees,
      signal, onProgress: (d, t) => report(chmShare + (treesShare * d) / t, `trees: tile ${d} of ${t}`),
      onUnitDone: (i) => rows.unitDone(i),
    });
  } catch (err) {
    // nothing may still write into the job's folder once the job has failed
    rows.fail(err);
    await Promise.all([chmExport.catch(() => undefined), treesExport.catch(() => undefined)]);
    throw err;
  }
  const t2 = performance.now(), c2 = process.cpuUsage();
  report(0.95, 'writing results');
  const [treesFromStore] = await Promise.all([treesExport, chmExport]);
  const statistics: JobStatistics = stats.region.result(plan.region.areaM2, regionPixelCount(lay.planar, lay.grid));
  if (stats.parts) statistics.parts = stats.parts.result();
  if (plan.outputs.includes('stats')) {
    const path = join(run.outDir, OUTPUT_FILES.stats.file);
    writeFileAtomic(path, JSON.stringify(statsDocument(plan, statistics), null, 2) + '\n');
    outputs.stats = path;
  }
  report(1, 'done');
  const t3 = performance.now(), c3 = process.cpuUsage();
  const cpu = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => (b.user + b.system - a.user - a.system) / 1e6;
  // the exports finish in whichever order they finish: listed always in one order (results, CLI line)
  const ordered: Partial<Record<OutputName, string>> = {};
  for (const name of Object.keys(OUTPUT_FILES) as OutputName[]) if (outputs[name]) ordered[name] = outputs[name];
  return { statistics, outputs: ordered, units: { chm: nChm, trees: nTrees, treesFromStore }, seconds: { chm: (t1 - t0) / 1000, trees: (t2 - t1) / 1000, export: (t3 - t2) / 1000 },
    cpuSeconds: { chm: cpu(c0, c1), trees: cpu(c1, c2), export: cpu(c2, c3) },
  };
}

/**
 * What an earlier run of this job left half-written when it was killed (the COG writer's work
 * folder, the GeoJSON and statistics temporaries): this run writes its own, and a region's COG
 * work folder can be hundreds of MB. Only our own temporaries of the result files are touched:
 * `forestmap process --out` may point at a folder that holds other files.
 */
export function removeStaleTemporaries(outDir: string): void {
  const ours = Object.values(OUTPUT_FILES).map(({ file }) => file.replace(/\./g, '\\.')).join('|');
  const stale = new RegExp(`^(\\.(${ours})\\.tmp-.+|(${ours})\\.\\d+(\\.[a-z0-9]+)?\\.tmp)$`);
  for (const name of readdirSync(outDir)) {
    if (stale.test(name)) rmSync(join(outDir, name), { recursive: true, force: true });
  }
}

function statsDocument(plan: ForestMapPlan, statistics: JobStatistics) {
  return {
    raster: plan.ctx.raster.id,
    model: plan.ctx.modelKey,
    chm: plan.ctx.chm.kind,
    region: { bbox: plan.region.bbox, area_m2: plan.region.areaM2 },
    tree_detection: plan.ctx.trees,
    definitions: {
      area_ha: 'geodesic area of the region (WGS84 ellipsoid, turf area)',
      canopy_cover_2m: 'fraction of the region\'s valid CHM pixels (centre in the region) above 2 m',
      canopy_cover_5m: 'fraction of the region\'s valid CHM pixels above 5 m',
      data_coverage: 'fraction of the region\'s pixels (CHM pixel lattice, past the raster\'s edges too) holding a valid CHM value',
      data_area_ha: 'area_ha x data_coverage: the part of the region with canopy height data',
      tree_count: 'trees whose top lies in the region',
      trees_per_ha: 'tree_count / data_area_ha (trees are only found where there is data)',
      tree_height_m: 'tree top heights: mean, median, 95th percentile (linear), max',
      canopy_height_m: 'CHM pixels above 2 m: mean, max exact; median and p95 to 0.1 m',
      height_histogram: 'tree top heights in 1 m bins [k, k+1)',
      ...(plan.region.parts ? { parts: 'for a region given as a FeatureCollection of several features: each feature (its index, id and properties as given) with the same statistics over its own polygons' } : {}),
    },
    statistics,
  };
}

/**
 * Tells when every trees unit of a row of tiles is done. Units are numbered as the layout lists
 * them (row by row); a failed run rejects every wait.
 */
export class TileRowGate {
  private readonly rowOf: number[] = [];
  private readonly left: number[];
  private readonly waits: Array<{ promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void }>;

  constructor(unitsPerRow: readonly number[]) {
    this.left = [...unitsPerRow];
    unitsPerRow.forEach((n, r) => { for (let k = 0; k < n; k++) this.rowOf.push(r); });
    this.waits = unitsPerRow.map((n) => {
      let resolve!: () => void, reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
      promise.catch(() => undefined);
      if (n === 0) resolve();
      return { promise, resolve, reject };
    });
  }

  unitDone(unit: number): void {
    const r = this.rowOf[unit];
    if (r === undefined) throw new Error(`internal: no trees unit ${unit}`);
    if (--this.left[r] === 0) this.waits[r].resolve();
  }

  /** Resolves once row `r`'s units are all done. */
  ready(r: number): Promise<void> {
    return this.waits[r].promise;
  }

  fail(err: unknown): void {
    for (const w of this.waits) w.reject(err);
  }
}

/**
 * Trees and crowns of the region, in global id order (row-major by top, as whole-raster detection
 * orders them): tile outputs are merged one tile row at a time, each as soon as `rows` says its
 * units are done, so memory is one row of tiles. Returns how many tile outputs came from the tree
 * store.
 */
async function exportTrees(run: PipelineRun, lay: Layout, stats: JobStats, outputs: PipelineSummary['outputs'], rows: TileRowGate): Promise<number> {
  const { plan } = run;
  const wantTrees = plan.outputs.includes('trees'), wantCrowns = plan.outputs.includes('crowns');
  const treesOut = wantTrees ? new GeoJsonFileWriter(join(run.outDir, OUTPUT_FILES.trees.file)) : null;
  const crownsOut = wantCrowns ? new GeoJsonFileWriter(join(run.outDir, OUTPUT_FILES.crowns.file)) : null;
  const features = new TreeFeatures(lay.grid.crs);
  let fromStore = 0;
  try {
    let unit = 0;
    for (let r = 0; r < lay.tileRows.length; r++) {
      const line = lay.tileRows[r];
      await rows.ready(r);
      const tiles: PackedTrees[] = [];
      // (tile, tree) pairs of the row, to be put in id order
      const tileOf: number[] = [], treeOf: number[] = [], ids: number[] = [];
      for (let i = 0; i < line.length; i++, unit++) {
        const out = readTreesUnit(run.pathOf(lay.treesUnits[unit].key));
        if (out.from === 'tree-store') fromStore++;
        for (let k = 0; k < treeCount(out.trees); k++) { tileOf.push(i); treeOf.push(k); ids.push(treeId(out.trees, k)); }
        tiles.push(out.trees);
      }
      const order = ids.map((_, j) => j).sort((a, b) => ids[a] - ids[b]);
      for (const j of order) {
        const packed = tiles[tileOf[j]], k = treeOf[j];
        const tree = unpackTree(packed, k);
        if (!containsTop(lay.planar, tree.x, tree.y)) continue;
        stats.region.addTree(tree.height);
        stats.parts?.addTree(tree.x, tree.y, tree.height);
        if (treesOut) await treesOut.add((out) => { features.writePoint(out, tree); return true; });
        if (crownsOut) {
          // the crown straight from the tile's packed arrays: no nested arrays per tree
          const crown = { coords: packed.coords, vertexStart: packed.vertexStart, first: packed.ringStart[k], end: packed.ringStart[k + 1] };
          await crownsOut.add((out) => features.writeCrown(out, tree, crown));
        }
      }
      if (run.signal.aborted) throw new CancelledError();
    }
    if (treesOut) outputs.trees = await treesOut.finish();
    if (crownsOut) outputs.crowns = await crownsOut.finish();
    return fromStore;
  } finally {
    treesOut?.abandon();
    crownsOut?.abandon();
  }
}

/**
 * A CHM strip of the region's window made ready for the COG, in one pass over the region's spans
 * (no mask array): pixels inside go into the statistics, and pixels outside the region or without
 * a value become the CHM's nodata, in place. The spans come in row-major order and do not overlap.
 */
function clipStrip(values: Float32Array, lay: Layout, sub: Window, stats: RegionStatsAccumulator, pixelAreaM2: number): void {
  let settled = 0;
  regionSpans(lay.planar, lay.grid, sub, (row, c0, c1) => {
    const from = row * sub.width + c0, to = row * sub.width + c1 + 1;
    values.fill(CHM_NODATA, settled, from);
    stats.addChm(values, from, to, pixelAreaM2);
    nodataWithout(values, from, to);
    settled = to;
  });
  values.fill(CHM_NODATA, settled);
}

/** Pixels [from, to) without a value (NaN, infinite) become the CHM's nodata. */
function nodataWithout(values: Float32Array, from: number, to: number): void {
  // v - v is 0 only for finite v
  for (let i = from; i < to; i++) { const v = values[i]; if (v - v !== 0) values[i] = CHM_NODATA; }
}

/** The region's CHM window as a COG (nodata outside the region), accumulating CHM statistics on the way. */
async function exportChm(run: PipelineRun, lay: Layout, stats: JobStats, outputs: PipelineSummary['outputs']): Promise<void> {
  const reader = await defaultResources(run.pathOf).chmReader(run.plan.ctx, lay.blocks);
  const pixelAreaM2 = groundPixelArea(lay.grid);
  const win = lay.regionWin;
  const strip = async (w: Window): Promise<Float32Array> => {
    if (run.signal.aborted) throw new CancelledError();
    // w is in the region window's pixels; the writer's last strip may run past the bottom
    const height = Math.min(w.height, win.height - w.y);
    // explicit nodata outside the region or data (not NaN: readers treat the nodata value as masked)
    if (height <= 0) return new Float32Array(w.width * w.height).fill(CHM_NODATA);
    const sub: Window = { x: win.x, y: win.y + w.y, width: win.width, height };
    const values = await reader.read(sub);
    stats.parts?.addChm(values, sub, pixelAreaM2);
    clipStrip(values, lay, sub, stats.region, pixelAreaM2);
    if (values.length === w.width * w.height) return values;
    const out = new Float32Array(w.width * w.height).fill(CHM_NODATA);
    out.set(values);
    return out;
  };
  if (run.plan.outputs.includes('chm')) {
    const path = join(run.outDir, OUTPUT_FILES.chm.file);
    await writeCog(path, { grid: windowGrid(lay.grid, win), bands: 1, sampleType: 'float32', nodata: CHM_NODATA, tileSize: 256, ...CHM_COMPRESSION, overviews: 'auto' }, async (w) => [await strip(w)]);
    outputs.chm = path;
  } else {
    for (let y = 0; y < win.height; y += 256) await strip({ x: 0, y, width: win.width, height: Math.min(256, win.height - y) });
  }
}
