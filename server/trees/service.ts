/**
 * Background tree detection for the server: whenever the catalog gains (or replaces) a raster
 * with role 'chm' — a computed CHM or a registered lidar CHM — its trees and crowns are computed
 * tile by tile, with progress, into a TreeStore under varDir/trees/<chmId>/<version>. One
 * computation runs at a time; a replaced or removed CHM cancels its computation and drops its store.
 */
import { DEFAULT_WS, parseWindowSize } from './window.expression.ts';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Catalog, CatalogChange, CatalogEntry } from '../catalog/catalog.ts';
import { NotFoundError } from '../errors.ts';
import { TreeStore, TreeStoreWriter } from './store.ts';
import { detectTreesTiled } from './tiled.ts';
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

/** Defaults for server-side detection: lidR's variable window, Dalponte crowns. */
export const SERVER_TREE_OPTIONS: TreeOptions = { ws: parseWindowSize(DEFAULT_WS), hmin: 2, algorithm: 'dalponte' };

export class TreeService {
  private readonly statuses = new Map<string, TreeStatus>();
  private readonly stores = new Map<string, Promise<TreeStore>>();
  private readonly aborts = new Map<string, AbortController>();
  private queue: CatalogEntry[] = [];
  private running = false;
  private idle: Promise<void> = Promise.resolve();
  private readonly listener = (e: CatalogChange) => this.onChange(e);

  constructor(private readonly catalog: Catalog, private readonly varDir: string, private readonly opts: TreeOptions = SERVER_TREE_OPTIONS, private readonly tileSize = 256) {
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
    const done = existsSync(join(this.dirFor(entry), 'meta.json'));
    this.statuses.set(entry.id, { chmId: entry.id, version: entry.version, state: done ? 'done' : 'queued', progress: done ? 1 : 0, trees: 0 });
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
      writer = await TreeStoreWriter.create(this.dirFor(entry), source.grid.crs);
      const w = writer;
      await detectTreesTiled(source, {
        ...this.opts, tileSize: this.tileSize, signal: abort.signal,
        onTile: async (trees, crowns) => {
          await w.add(trees, crowns);
          status.trees = w.count;
          await yieldToEventLoop(); // let requests through between tiles
        },
      }, (done, total) => { status.progress = done / total; });
      const meta = await writer.finish({ chmId: entry.id, version: entry.version, algorithm: this.opts.algorithm });
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
