/**
 * The forest-map work units and how to run one. A unit's spec is plain JSON carrying everything
 * a worker needs (raster path and version, model, options), so a remote worker could run it; its
 * key names its output exactly: (raster, version, model, kind, tile, options hash).
 *
 * Two kinds:
 * - 'chm' (image rasters only): the canopy height of one block of the model grid, identical to the
 *   whole-raster CHM there (server/chm/block.ts). Output: the block's float32 heights.
 * - 'trees': the trees whose tops lie in one tile of the CHM grid, found on the tile plus a halo
 *   (server/trees delineateWindow, as detectTreesTiled does per tile). Output: trees and crowns in
 *   the CHM's CRS, packed (server/trees/packed.ts). When the server's tree service has already
 *   detected the trees of the CHM file the unit reads (a finished TreeStore of that file's current
 *   version, computed with the same resolved options, with halos wide enough for the CHM's
 *   heights), the unit takes the trees whose tops lie in its core from the store instead: tiled
 *   detection with a sufficient halo equals whole-raster detection (server/trees/tiled.ts; ids are
 *   global pixel indices), so the trees and crowns are the same values either way. The output
 *   then says `from: 'tree-store'`
 *   (provenance only; the trees and crowns are what detection gives), which the job summary counts.
 *
 * Units never see the region's shape, only windows: a trees unit is a cell of the tileSize lattice
 * cut to the box of the region's pixels in it, and a CHM unit a cell of the blockSize lattice cut
 * to the rectangles the job's tiles read (server/jobs/chm.cover.ts). Interior cells are whole and
 * shared by every job covering them; edge cells carry their exact extent in their key. Clipping to
 * the region itself happens when the job's results are exported.
 */
import { isDeepStrictEqual } from 'node:util';
import { availableParallelism } from 'node:os';
import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import type { Grid, Window } from '../raster/types.ts';
import { openRaster, type RasterSource } from '../raster/source.ts';
import { fileVersion } from '../raster/file.version.ts';
import { resolveModel } from '../model/registry.ts';
import { modelKeyOf, type LoadedManifest } from '../model/manifest.ts';
import { streamChmBlock, chmGridOf } from '../chm/block.ts';
import { chmPlane, gridHalo, unitScale, type ChmWindow } from '../trees/detect.ts';
import { detectionPool, detectPacked } from '../trees/detect.pool.ts';
import { fromPackedBytes, packedBytes, packedLayout, packTrees, type PackedLayout, type PackedTrees } from '../trees/packed.ts';
import type { TreeStore } from '../trees/store.ts';
import { canonicalTreeOptions, treeOptionsOf, type TreeOptionsSpec, type TreeStoreSource } from '../trees/service.ts';
import { CancelledError, ConflictError } from '../errors.ts';
import { hashOf, writeFileAtomic, type WorkUnit } from './queue.ts';
import type { TreeDetectionInputs } from './process.forest-map.ts';

export interface RasterRef {
  id: string;
  path: string;
  /** Changes with the file's content (the catalog's version, or size+mtime). */
  version: string;
  role: 'image' | 'chm';
}

/** What every unit of a job shares. */
export interface UnitContext {
  raster: RasterRef;
  /** Model name or directory; null for a CHM raster. */
  model: string | null;
  /** Model name + version as resolved when the job was planned (part of keys). */
  modelKey: string | null;
  trees: TreeDetectionInputs;
  /**
   * Where trees units read the CHM: the raster itself (a CHM raster), an already computed CHM file
   * of this raster and model (reused), or the job's own 'chm' block units.
   */
  chm: { kind: 'raster' } | { kind: 'file'; path: string; version: string } | { kind: 'blocks' };
  /** Trees tile core size and halo (CHM pixels); CHM block size (model-grid pixels). */
  tileSize: number;
  halo: number;
  blockSize: number;
}

export type UnitSpec =
  | { kind: 'chm'; ctx: UnitContext; block: Window }
  /** `blocks`: the job's CHM blocks the read window touches (when the job computes its CHM). */
  | { kind: 'trees'; ctx: UnitContext; core: Window; read: Window; blocks?: Window[] };

/** Context pixels a trees tile needs for the given options on a CHM grid. */
export function treesHalo(t: TreeDetectionInputs, grid: Grid): number {
  return gridHalo(treeOptionsOf(t), grid);
}

function rasterKey(ctx: UnitContext): string {
  return `${ctx.raster.id}@${ctx.raster.version}/${ctx.modelKey ?? 'chm-raster'}`;
}

export function chmUnit(ctx: UnitContext, block: Window): WorkUnit<UnitSpec> {
  return { key: `${rasterKey(ctx)}/chm/${block.x},${block.y},${block.width},${block.height}`, spec: { kind: 'chm', ctx, block } };
}

export function treesUnit(ctx: UnitContext, core: Window, read: Window, blocks?: Window[]): WorkUnit<UnitSpec> {
  // every CHM source yields the whole-raster CHM's values (blocks are exact), so block layout is not part of the key
  const chm = ctx.chm.kind === 'file' ? `file:${ctx.chm.version}` : ctx.chm.kind;
  // the output format is part of the key: files an older build wrote in another format are not read
  const opts = hashOf({ trees: ctx.trees, halo: ctx.halo, chm, output: TREES_UNIT_FORMAT });
  return { key: `${rasterKey(ctx)}/trees/${core.x},${core.y},${core.width},${core.height}/${opts}`, spec: { kind: 'trees', ctx, core, read, ...(blocks ? { blocks } : {}) } };
}

// ---- unit output files: [u32 header length][JSON header][pad to 4][payload: a CHM block's float32 heights, or packed trees]

export function encodeUnitFile(header: unknown, payload?: Float32Array): Uint8Array[] {
  const json = Buffer.from(JSON.stringify(header));
  const headLen = 4 + json.length;
  const head = new Uint8Array(headLen + ((4 - (headLen % 4)) % 4));
  new DataView(head.buffer).setUint32(0, json.length, true);
  head.set(json, 4);
  return payload ? [head, new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)] : [head];
}

export function decodeUnitFile<H>(path: string): { header: H; payload: Float32Array } {
  // read straight into the result arrays: a CHM block is tens of MB, no intermediate copy
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const lenBuf = Buffer.alloc(4);
    readFully(fd, lenBuf, 0);
    const len = lenBuf.readUInt32LE(0);
    const json = Buffer.alloc(len);
    readFully(fd, json, 4);
    const start = payloadStart(len);
    const payload = new Float32Array(Math.max(0, size - start) / 4);
    readFully(fd, new Uint8Array(payload.buffer), start);
    return { header: JSON.parse(json.toString('utf8')) as H, payload };
  } finally {
    closeSync(fd);
  }
}

function payloadStart(headerLength: number): number {
  return 4 + headerLength + ((4 - ((4 + headerLength) % 4)) % 4);
}

function readFully(fd: number, into: Uint8Array, position: number): void {
  for (let off = 0; off < into.byteLength;) {
    const n = readSync(fd, into, off, into.byteLength - off, position + off);
    if (n === 0) throw new Error('unit output file is truncated');
    off += n;
  }
}

/** How a trees unit's output file holds its trees (part of the unit's key). */
const TREES_UNIT_FORMAT = 'packed-trees-1';

export interface TreesUnitOutput {
  trees: PackedTrees;
  /** Set when the trees were taken from the server's tree store rather than detected (same values). */
  from?: 'tree-store';
}

interface TreesUnitHeader {
  format: typeof TREES_UNIT_FORMAT;
  layout: PackedLayout;
  from?: 'tree-store';
}

/** Writes a trees unit's output: a JSON header with the arrays' sizes, then the arrays' bytes. */
export function writeTreesUnit(path: string, out: TreesUnitOutput): void {
  const header: TreesUnitHeader = { format: TREES_UNIT_FORMAT, layout: packedLayout(out.trees), ...(out.from ? { from: out.from } : {}) };
  writeFileAtomic(path, [...encodeUnitFile(header), ...packedBytes(out.trees)]);
}

export function readTreesUnit(path: string): TreesUnitOutput {
  const { header, payload } = decodeUnitFile<TreesUnitHeader>(path);
  if (header.format !== TREES_UNIT_FORMAT) throw new Error(`internal: ${path} is not a trees unit output (${TREES_UNIT_FORMAT})`);
  const trees = fromPackedBytes(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength), header.layout);
  return { trees, ...(header.from ? { from: header.from } : {}) };
}


// ---- reading the CHM a trees unit needs

/** A CHM to read windows from: a CHM raster, a cached CHM file, or the job's CHM blocks. */
export interface ChmWindowReader {
  grid: Grid;
  /** Heights (NaN = no data) of a window inside the grid. */
  read(window: Window): Promise<Float32Array>;
}

export function rasterChmReader(source: RasterSource): ChmWindowReader {
  return {
    grid: source.grid,
    read: async (w) => chmPlane(await source.readWindow(w, { overview: 0, bands: [0] })),
  };
}

/** Cells of the `size` lattice over a grid, clipped to `clip` (default: the grid): the blocks a window touches. */
export function blocksTouching(grid: { width: number; height: number }, size: number, w: Window, clip?: Window | null): Window[] {
  const c = clip ?? { x: 0, y: 0, width: grid.width, height: grid.height };
  const out: Window[] = [];
  const x0 = Math.max(w.x, c.x), y0 = Math.max(w.y, c.y);
  const x1 = Math.min(w.x + w.width, c.x + c.width, grid.width), y1 = Math.min(w.y + w.height, c.y + c.height, grid.height);
  for (let by = Math.floor(y0 / size) * size; by < y1; by += size) {
    for (let bx = Math.floor(x0 / size) * size; bx < x1; bx += size) {
      const bx0 = Math.max(bx, c.x), by0 = Math.max(by, c.y);
      const bx1 = Math.min(bx + size, c.x + c.width, grid.width), by1 = Math.min(by + size, c.y + c.height, grid.height);
      out.push({ x: bx0, y: by0, width: bx1 - bx0, height: by1 - by0 });
    }
  }
  return out;
}

/** The blocks among `blocks` that overlap window `w`. */
export function blocksOverlapping(blocks: readonly Window[], w: Window): Window[] {
  return blocks.filter((b) => b.x < w.x + w.width && w.x < b.x + b.width && b.y < w.y + w.height && w.y < b.y + b.height);
}

/**
 * Reads windows of the model-grid CHM from a job's 'chm' unit outputs (`blocks`, disjoint): pixels
 * no block holds read as NaN. A block file's payload is row-major float32, so a window is read row
 * by row straight from disk (positioned reads into the result): no block is held in memory,
 * whatever the region's size.
 */
export function blockChmReader(grid: Grid, ctx: UnitContext, blocks: readonly Window[], pathOf: (key: string) => string): ChmWindowReader {
  return new BlockChmReader(grid, ctx, blocks, pathOf);
}

/** A class, not an object literal's method per job: V8 keeps one compiled read for every job. */
class BlockChmReader implements ChmWindowReader {
  constructor(readonly grid: Grid, private readonly ctx: UnitContext, private readonly blocks: readonly Window[], private readonly pathOf: (key: string) => string) {}

  async read(w: Window): Promise<Float32Array> {
    const out = new Float32Array(w.width * w.height).fill(NaN);
    const bytes = new Uint8Array(out.buffer);
    const len = Buffer.alloc(4);
    for (const b of blocksOverlapping(this.blocks, w)) {
      const key = chmUnit(this.ctx, b).key;
      // opened per read (a tile touches at most 4 blocks): no descriptors outlive the call
      const fd = openSync(this.pathOf(key), 'r');
      try {
        readFully(fd, len, 0);
        const start = payloadStart(len.readUInt32LE(0));
        if (fstatSync(fd).size - start !== b.width * b.height * 4) throw new Error(`internal: CHM block ${key} does not hold ${b.width}x${b.height} values`);
        const x0 = Math.max(w.x, b.x), x1 = Math.min(w.x + w.width, b.x + b.width);
        const y0 = Math.max(w.y, b.y), y1 = Math.min(w.y + w.height, b.y + b.height);
        for (let y = y0; y < y1; y++) {
          const dst = ((y - w.y) * w.width + (x0 - w.x)) * 4;
          readFully(fd, bytes.subarray(dst, dst + (x1 - x0) * 4), start + ((y - b.y) * b.width + (x0 - b.x)) * 4);
        }
      } finally {
        closeSync(fd);
      }
    }
    return out;
  }
}

// ---- executing a unit

/**
 * Units of each kind a worker runs at once: CHM blocks `chm` at a time (each uses every core
 * through the model's threads), trees tiles one more than the cores (their detection runs on the
 * detection threads, one per core; the extra one reads and writes meanwhile).
 */
export function unitKindConcurrency(chm: number, cores = availableParallelism()): Record<UnitSpec['kind'], number> {
  return { chm, trees: cores + 1 };
}

export interface UnitResources {
  /**
   * The CHM reader for a trees unit of this context: the CHM raster, the cached CHM, or the job's
   * CHM `blocks` (required when the job computes its CHM).
   */
  chmReader(ctx: UnitContext, blocks?: readonly Window[]): Promise<ChmWindowReader>;
  source(ctx: UnitContext): Promise<RasterSource>;
  manifest(ctx: UnitContext): Promise<LoadedManifest>;
  /**
   * Already detected trees of the CHM file at `path`, if this worker can see any (the server's
   * tree service; a remote worker could open the stores on shared storage). Absent or null:
   * trees units detect their trees. The store is checked before use (reusableStore).
   */
  treeStore?(path: string): Promise<TreeStore | null>;
  /** Runs a trees unit's detection (default resources: on the process's detection threads); absent: on this thread. */
  detect?(window: ChmWindow, options: TreeOptionsSpec): Promise<PackedTrees>;
}

/** Where finished tree stores are found: the server's TreeService (storeForFile) fits. */
export interface TreeStoreLookup {
  storeForFile(path: string): Promise<TreeStore | null>;
}

/**
 * Default resources: open by path, resolve the model by name; block outputs found by `pathOf`;
 * tree stores from `treeStores` when it gives a lookup (evaluated per unit: the server's tree
 * service may start or stop while jobs run).
 */
export function defaultResources(pathOf: (key: string) => string, treeStores?: () => TreeStoreLookup | null): UnitResources {
  // per raster and model: the CHM file's reader, or the model grid the job's blocks lie on
  const opened = new Map<string, Promise<{ file: ChmWindowReader } | { blocksGrid: Grid }>>();
  const res: UnitResources = {
    detect: (window, options) => detectionPool().detect(window, options),
    source: (ctx) => openRaster(ctx.raster.path),
    manifest: (ctx) => resolveModel(ctx.model ?? undefined),
    async chmReader(ctx, blocks) {
      const id = JSON.stringify([ctx.raster.path, ctx.raster.version, ctx.modelKey, ctx.chm]);
      let got = opened.get(id);
      if (!got) {
        got = (async () => {
          if (ctx.chm.kind === 'raster') return { file: rasterChmReader(await res.source(ctx)) };
          if (ctx.chm.kind === 'file') return { file: rasterChmReader(await openRaster(ctx.chm.path)) };
          return { blocksGrid: chmGridOf(await res.source(ctx), await res.manifest(ctx)) };
        })();
        opened.set(id, got);
        got.catch(() => opened.delete(id));
        while (opened.size > 2) opened.delete(opened.keys().next().value!);
      }
      const chm = await got;
      if ('file' in chm) return chm.file;
      if (!blocks) throw new Error('internal: a trees unit of a job computing its CHM must name the CHM blocks it reads');
      return blockChmReader(chm.blocksGrid, ctx, blocks, pathOf);
    },
  };
  if (treeStores) res.treeStore = async (path) => (await treeStores()?.storeForFile(path)) ?? null;
  return res;
}

/** The CHM file a trees unit reads, when it reads one (not the job's own CHM blocks). */
export function chmFileOf(ctx: UnitContext): string | null {
  return ctx.chm.kind === 'raster' ? ctx.raster.path : ctx.chm.kind === 'file' ? ctx.chm.path : null;
}

/**
 * Why a finished tree store cannot stand in for detecting a unit's trees, or null when it can:
 * it must have been computed from this very file as it is now (version), on the same grid, with
 * the same resolved options, keeping native crowns, and with halos covering every window the
 * CHM's heights call for (requiredHalo at the CHM's highest value), both in the store's tiling
 * and in the job's. Then both equal whole-raster detection, tree for tree and crown for crown.
 */
export function reusableStore(store: TreeStore, ctx: UnitContext, grid: Grid, path: string): string | null {
  const src = store.meta.source as Partial<TreeStoreSource>;
  if (!store.hasNativeCrowns || src.options === undefined) return 'the store predates reuse (no native crowns or options recorded)';
  const version = fileVersion(path);
  if (src.version !== version) return `the store was computed from version ${src.version} of the CHM, which is now ${version}`;
  if (src.width !== grid.width || src.height !== grid.height) return 'the store was computed on another grid';
  if (!isDeepStrictEqual(src.options, canonicalTreeOptions(ctx.trees))) return 'the store was computed with other tree options';
  if (src.maxHeight !== null) {
    const opts = treeOptionsOf(ctx.trees);
    const need = gridHalo(opts, grid, Math.max(src.maxHeight ?? Infinity, opts.hmin ?? 0));
    if (!(need <= ctx.halo && need <= (src.halo ?? 0))) return `the CHM reaches ${src.maxHeight} m, beyond what the halos cover (${need} px needed)`;
  }
  return null;
}

/** The unit's trees from a finished tree store, or null when there is none it may use. */
async function treesFromStore(spec: Extract<UnitSpec, { kind: 'trees' }>, grid: Grid, res: UnitResources): Promise<TreesUnitOutput | null> {
  const path = chmFileOf(spec.ctx);
  if (!path || !res.treeStore) return null;
  let store: TreeStore | null;
  try {
    store = await res.treeStore(path);
  } catch {
    return null; // removed or replaced meanwhile: detect instead
  }
  if (!store || reusableStore(store, spec.ctx, grid, path) !== null) return null;
  try {
    const { trees, crowns } = await store.treesInWindow(spec.core, grid.width);
    return { trees: packTrees(trees, crowns), from: 'tree-store' };
  } catch (err) {
    // the store's files went away under us (its CHM was replaced): detect instead
    console.warn(`[jobs] tree store of ${path} not used: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  }
}

export async function executeUnit(unit: WorkUnit<UnitSpec>, outPath: string, signal: AbortSignal, res: UnitResources, progress?: (fraction: number) => void): Promise<void> {
  if (signal.aborted) throw new CancelledError();
  const spec = unit.spec;
  if (spec.kind === 'chm') {
    const manifest = await res.manifest(spec.ctx);
    // A worker (maybe on another machine) resolves the model by name: its weights must be the
    // ones the job was planned with, or its block would be stored under the wrong key.
    if (modelKeyOf(manifest) !== spec.ctx.modelKey) {
      throw new ConflictError(`this worker's model is ${modelKeyOf(manifest)}, the job was planned with ${spec.ctx.modelKey}: give every worker the same model files`);
    }
    // streamed to the file strip by strip (temp + rename): a block is never whole in memory
    const tmp = `${outPath}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      let pos = 0;
      const put = (chunk: Uint8Array) => { for (let off = 0; off < chunk.byteLength;) off += writeSync(fd, chunk, off, chunk.byteLength - off, pos + off); pos += chunk.byteLength; };
      for (const chunk of encodeUnitFile({ block: spec.block })) put(chunk);
      await streamChmBlock(spec.block, {
        source: await res.source(spec.ctx), manifest, signal,
        onProgress: progress ? (p) => progress(p.done / p.total) : undefined,
      }, (_y, rows) => put(new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength)));
      if (pos !== encodeUnitFile({ block: spec.block })[0].byteLength + spec.block.width * spec.block.height * 4) throw new Error(`internal: CHM block ${unit.key} is incomplete`);
    } catch (err) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    }
    closeSync(fd);
    renameSync(tmp, outPath);
    return;
  }
  const reader = await res.chmReader(spec.ctx, spec.blocks);
  const { grid } = reader;
  const stored = await treesFromStore(spec, grid, res);
  if (stored) {
    writeTreesUnit(outPath, stored);
    return;
  }
  const r = spec.read, c = spec.core;
  const chm = await reader.read(r);
  const window: ChmWindow = {
    chm, width: r.width, height: r.height, offsetX: r.x, offsetY: r.y,
    rasterWidth: grid.width, rasterHeight: grid.height, transform: grid.transform, metresPerUnit: unitScale(grid.crs),
    core: { x0: c.x - r.x, y0: c.y - r.y, x1: c.x + c.width - r.x, y1: c.y + c.height - r.y },
  };
  const trees = res.detect ? await res.detect(window, spec.ctx.trees) : detectPacked(window, spec.ctx.trees);
  writeTreesUnit(outPath, { trees });
}
