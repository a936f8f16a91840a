/**
 * Background tree detection for the server: whenever the catalog gains (or replaces) a raster
 * with role 'chm' — a computed CHM or a registered lidar CHM — its trees and crowns are computed
 * tile by tile, with progress, into a TreeStore under varDir/trees/<chmId>/<version>. One
 * computation runs at a time; a replaced or removed CHM cancels its computation and drops its store.
 *
 * A store's meta.json records what it was computed from and how (TreeStoreSource): the CHM's id,
 * version and size, the resolved detection options, the tiling and halo, and the CHM's highest
 * value. Forest-map jobs use that to take a tile's trees from the store instead of detecting them
 * again, only when the result is provably the same (server/jobs/units.ts).
 */
import { DEFAULT_WS, parseWindowSize } from './window.expression.ts';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Catalog, CatalogChange, CatalogEntry } from '../catalog/catalog.ts';
import { NotFoundError } from '../errors.ts';
import { storedTreeCount, TreeStore, TreeStoreWriter } from './store.ts';
import { detectTreesTiled, type ChmSource } from './tiled.ts';
import { gridHalo, resolveTreeOptions, unitScale, type ResolvedTreeOptions } from './detect.ts';
import { assertHeightsAboveGround } from '../chm/heights.check.ts';
import type { TreeOptions } from './types.ts';

export type TreeState = 'queued' | 'running' | 'done' | 'failed';

export interface TreeStatus {
  chmId: string;
  version: string;
  state: TreeState;
  /** 0..1 */
  progress: number;
  trees: number;
  error?: string;
}

/** Tree options as JSON-able data: the window is a number of metres or an expression of h (text). */
export type TreeOptionsSpec = Omit<TreeOptions, 'ws'> & { ws?: number | string };

/** Every detection option resolved (defaults filled in), the window kept as given: a number, or its expression's text. */
export type CanonicalTreeOptions = Omit<ResolvedTreeOptions, 'ws'> & { ws: number | string };

/** The options detection runs with (the window parsed). */
export function treeOptionsOf(spec: TreeOptionsSpec): TreeOptions {
  return { ...spec, ws: typeof spec.ws === 'string' ? parseWindowSize(spec.ws) : spec.ws };
}

/**
 * Options resolved to their full, comparable form: two specs give equal (deep-equal, JSON-able)
 * results exactly when detection runs with the same parameters. A window function is named by its
 * text (an expression that is a plain number becomes that number), so equal texts are the same window;
 * differently written but equivalent expressions compare unequal, which only costs a reuse.
 */
export function canonicalTreeOptions(spec: TreeOptionsSpec): CanonicalTreeOptions {
  const opts = treeOptionsOf(spec);
  const resolved = resolveTreeOptions(opts);
  return { ...resolved, ws: typeof opts.ws === 'function' ? (spec.ws as string) : resolved.ws as number };
}

/** Defaults for server-side detection: lidR's variable window, Dalponte crowns. */
export const SERVER_TREE_SPEC: TreeOptionsSpec = { ws: DEFAULT_WS, hmin: 2, algorithm: 'dalponte' };
export const SERVER_TREE_OPTIONS: TreeOptions = treeOptionsOf(SERVER_TREE_SPEC);

/** What a store records about its computation (StoreMeta.source). */
export interface TreeStoreSource {
  chmId: string;
  /** The CHM file's version (catalog scheme: size + mtime) when its trees were computed. */
  version: string;
  algorithm: string;
  options: CanonicalTreeOptions;
  /** Tiling of the computation (core side and context pixels, as detectTreesTiled ran). */
  tileSize: number;
  halo: number;
  /** The CHM grid's size: tree ids are row * width + column. */
  width: number;
  height: number;
  /** Highest valid CHM value (null: no valid pixel): whether the halo covered every window (requiredHalo's hmax). */
  maxHeight: number | null;
}

export class TreeService {
  private readonly statuses = new Map<string, TreeStatus>();
  private readonly stores = new Map<string, Promise<TreeStore>>();
  private readonly aborts = new Map<string, AbortController>();
  private queue: CatalogEntry[] = [];
  private running = false;
  private idle: Promise<void> = Promise.resolve();
  private readonly listener = (e: CatalogChange) => this.onChange(e);

  private readonly opts: TreeOptions;
  private readonly canonical: CanonicalTreeOptions;

  constructor(private readonly catalog: Catalog, private readonly varDir: string, spec: TreeOptionsSpec = SERVER_TREE_SPEC, private readonly tileSize = 256) {
    this.opts = treeOptionsOf(spec);
    this.canonical = canonicalTreeOptions(spec);
    catalog.on('change', this.listener);
    for (const entry of catalog.list()) if (entry.role === 'chm') this.enqueue(entry);
  }

  /** Stops listening, cancels the running computation and resolves once it has let go of its files. */
  async close(): Promise<void> {
    this.catalog.off('change', this.listener);
    for (const a of this.aborts.values()) a.abort();
    this.queue = [];
    await this.idle;
  }

  private dirFor(entry: { id: string; version: string }): string {
    return join(this.varDir, 'trees', entry.id, entry.version);
  }

  private onChange(e: CatalogChange): void {
    const { entry } = e;
    this.aborts.get(entry.id)?.abort();
    this.queue = this.queue.filter((q) => q.id !== entry.id);
    this.stores.delete(entry.id);
    if (e.type === 'removed' || entry.role !== 'chm') {
      this.statuses.delete(entry.id);
      void rm(join(this.varDir, 'trees', entry.id), { recursive: true, force: true }).catch(() => undefined);
      return;
    }
    this.enqueue(entry);
  }

  private enqueue(entry: CatalogEntry): void {
    // a store finished by an earlier run reports its own count (it said 0 trees before)
    const stored = storedTreeCount(this.dirFor(entry));
    const done = stored !== null;
    this.statuses.set(entry.id, { chmId: entry.id, version: entry.version, state: done ? 'done' : 'queued', progress: done ? 1 : 0, trees: stored ?? 0 });
    if (!done) {
      this.queue.push(entry);
      this.pump();
    }
  }

  private pump(): void {
    if (this.running) return;
    const next = this.queue.shift();
    if (!next) return;
    this.running = true;
    this.idle = this.compute(next).finally(() => {
      this.running = false;
      this.pump();
    });
  }

  private async compute(entry: CatalogEntry): Promise<void> {
    const status = this.statuses.get(entry.id);
    if (!status || status.version !== entry.version) return;
    status.state = 'running';
    const abort = new AbortController();
    this.aborts.set(entry.id, abort);
    let writer: TreeStoreWriter | null = null;
    try {
      const source = await this.catalog.source(entry.id);
      const { grid } = source;
      // a terrain model registered as a CHM fails here with the reason, shown as the trees' status
      await assertHeightsAboveGround(source, `raster '${entry.id}'`, unitScale(grid.crs));
      writer = await TreeStoreWriter.create(this.dirFor(entry), grid.crs);
      const w = writer;
      const halo = gridHalo(this.opts, grid);
      // every pixel passes through a read: note the highest valid height on the way
      let maxHeight = -Infinity;
      const watched: ChmSource = {
        grid,
        async readWindow(window, o) {
          const image = await source.readWindow(window, o);
          const band = image.bands[0], mask = image.mask;
          if (band) for (let i = 0; i < band.length; i++) if ((!mask || mask[i]) && band[i] > maxHeight) maxHeight = band[i];
          return image;
        },
      };
      await detectTreesTiled(watched, {
        ...this.opts, tileSize: this.tileSize, halo, signal: abort.signal,
        onTile: async (trees, crowns) => {
          await w.add(trees, crowns);
          status.trees = w.count;
          await yieldToEventLoop(); // let requests through between tiles
        },
      }, (done, total) => { status.progress = done / total; });
      const record: TreeStoreSource = {
        chmId: entry.id, version: entry.version, algorithm: this.canonical.algorithm, options: this.canonical,
        tileSize: this.tileSize, halo, width: grid.width, height: grid.height,
        maxHeight: Number.isFinite(maxHeight) ? maxHeight : null,
      };
      const meta = await writer.finish({ ...record });
      status.trees = meta.count;
      status.progress = 1;
      status.state = 'done';
    } catch (err) {
      await writer?.abort().catch(() => undefined);
      if (abort.signal.aborted) return; // replaced or removed: a new status (or none) takes over
      status.state = 'failed';
      status.error = err instanceof Error ? err.message : String(err);
      console.error(`[trees] ${entry.id}: ${status.error}`);
    } finally {
      if (this.aborts.get(entry.id) === abort) this.aborts.delete(entry.id);
    }
  }

  /** Resolves when the queue is empty (tests). */
  async drained(): Promise<void> {
    while (this.running || this.queue.length) await this.idle;
  }

  /** The CHM whose trees answer for a raster: itself when it is a CHM, else the CHM computed from it. */
  chmFor(rasterId: string): CatalogEntry {
    const entry = this.catalog.get(rasterId);
    if (entry.role === 'chm') return entry;
    const chm = this.catalog.list().find((e) => e.role === 'chm' && e.sourceId === rasterId);
    if (!chm) throw new NotFoundError(`raster '${rasterId}' has no canopy height model yet: POST /api/rasters/${rasterId}/canopy computes one`, { id: rasterId });
    return chm;
  }

  status(chmId: string): TreeStatus | null {
    return this.statuses.get(chmId) ?? null;
  }

  /**
   * The finished store of the catalog CHM whose file is `path` (a job reading that file), or null:
   * no CHM raster there, its trees not done (or failed). The caller checks the store's
   * TreeStoreSource against what it needs (file version, options, grid).
   */
  async storeForFile(path: string): Promise<TreeStore | null> {
    const want = resolve(path);
    const entry = this.catalog.list().find((e) => e.role === 'chm' && resolve(e.path) === want);
    return entry ? this.store(entry.id) : null;
  }

  /** The finished store of a CHM, or null while it is being computed. */
  async store(chmId: string): Promise<TreeStore | null> {
    const status = this.statuses.get(chmId);
    if (!status || status.state !== 'done') return null;
    let p = this.stores.get(chmId);
    if (!p) {
      p = TreeStore.open(this.dirFor({ id: chmId, version: status.version }));
      this.stores.set(chmId, p);
      p.catch(() => this.stores.delete(chmId));
    }
    return p;
  }
}

interface TreeServiceHost {
  catalog: Catalog;
  config: { varDir: string };
}

const services = new WeakMap<object, TreeService>();

/** The background tree service of a server context (one per catalog; created on first use). */
export function treeServiceFor(ctx: TreeServiceHost): TreeService {
  let s = services.get(ctx.catalog);
  if (!s) {
    s = new TreeService(ctx.catalog, ctx.config.varDir);
    services.set(ctx.catalog, s);
  }
  return s;
}

/** The context's tree service if one runs (never starts one: the jobs layer looks, a closed one stays closed). */
export function runningTreeService(ctx: { catalog: object }): TreeService | null {
  return services.get(ctx.catalog) ?? null;
}

/** Stops the tree service of a context (tests, shutdown). */
export async function closeTreeService(ctx: { catalog: object }): Promise<void> {
  const s = services.get(ctx.catalog);
  services.delete(ctx.catalog);
  await s?.close();
}
