/**
 * CHM computations for the server: at most one per (raster, model) at a time, started on request,
 * cached on disk (cache.ts), registered in the catalog with role 'chm' when done, restored from
 * disk at start, and recomputed when their raster is replaced.
 */
import type { Catalog, CatalogChange, CatalogEntry } from '../catalog/catalog.ts';
import { resolveModel } from '../model/registry.ts';
import type { LoadedManifest } from '../model/manifest.ts';
import { BusyError, CancelledError, InvalidInputError } from '../errors.ts';
import { checkImagery, computeChm, type ChmProgress } from './engine.ts';
import { ensureCacheDir, findCachedChm, listCachedChms, recordCachedChm, removeStale, chmCachePath, chmCacheKeyOf, type ChmCacheKey } from './cache.ts';

export type ChmState = 'running' | 'done' | 'failed' | 'cancelled';

export interface ChmStatus {
  rasterId: string;
  model: { name: string; version: string };
  state: ChmState;
  progress: ChmProgress;
  /** Catalog id of the CHM raster once done. */
  chmId: string | null;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
  /** True when the result came from the on-disk cache. */
  cached: boolean;
}

export interface ChmServiceOptions {
  catalog: Catalog;
  varDir: string;
  /** Computations running at once; more are refused with BusyError (default 2). */
  maxRunning?: number;
  batchSize?: number;
  /** Model lookup (default: the registry). */
  resolve?: (nameOrPath?: string) => Promise<LoadedManifest>;
}

interface Computation {
  status: ChmStatus;
  /** The model as the caller named it (a name or a path), for recomputation. */
  modelArg: string | undefined;
  controller: AbortController;
  promise: Promise<void>;
}

/** The catalog id of a raster's CHM. */
export function chmIdFor(rasterId: string): string {
  return `${rasterId.slice(0, 60)}-chm`;
}

export class ChmService {
  /** Latest computation per raster id (one CHM per raster in the catalog). */
  private readonly byRaster = new Map<string, Computation>();
  private readonly resolve: (nameOrPath?: string) => Promise<LoadedManifest>;
  private readonly onChange = (e: CatalogChange) => void this.rasterChanged(e);

  constructor(readonly options: ChmServiceOptions) {
    this.resolve = options.resolve ?? ((n) => resolveModel(n));
    options.catalog.on('change', this.onChange);
  }

  /** Register CHMs computed before a restart whose raster is unchanged. */
  async restore(): Promise<number> {
    let n = 0;
    for (const cached of await listCachedChms(this.options.varDir)) {
      const { catalog } = this.options;
      if (!catalog.has(cached.rasterId)) continue;
      const entry = catalog.get(cached.rasterId);
      if (entry.version !== cached.rasterVersion || entry.role !== 'image') continue;
      const chmId = chmIdFor(entry.id);
      if (!catalog.has(chmId)) {
        await catalog.register(cached.path, { id: chmId, role: 'chm', sourceId: entry.id });
        n++;
      }
      const now = new Date().toISOString();
      this.byRaster.set(entry.id, {
        status: { rasterId: entry.id, model: { name: cached.modelName, version: cached.modelVersion }, state: 'done', progress: { done: 0, total: 0, elapsedSeconds: 0, etaSeconds: 0 }, chmId, error: null, startedAt: now, finishedAt: now, cached: true },
        modelArg: cached.modelName,
        controller: new AbortController(),
        promise: Promise.resolve(),
      });
    }
    return n;
  }

  /**
   * Start computing the CHM of a raster with a model (default model when omitted), or return the
   * computation already running or finished for the same raster version and model.
   */
  start(rasterId: string, opts: { model?: string; aerial?: boolean } = {}): Promise<ChmStatus> {
    // one start at a time per raster, so concurrent requests share one computation
    const prev = this.locks.get(rasterId) ?? Promise.resolve();
    const next = prev.then(() => this.startNow(rasterId, opts));
    const settled = next.then(() => undefined, () => undefined);
    this.locks.set(rasterId, settled);
    void settled.then(() => { if (this.locks.get(rasterId) === settled) this.locks.delete(rasterId); });
    return next;
  }

  private readonly locks = new Map<string, Promise<void>>();

  private async startNow(rasterId: string, opts: { model?: string; aerial?: boolean }): Promise<ChmStatus> {
    const { catalog, varDir } = this.options;
    const entry = await catalog.current(rasterId);
    if (entry.role !== 'image') throw new InvalidInputError(`raster '${rasterId}' is a canopy height model, not an image`);
    const manifest = await this.resolve(opts.model);
    checkImagery(entry.metadata, manifest, rasterId);
    const key = chmCacheKeyOf(entry, manifest);
    const existing = this.byRaster.get(entry.id);
    if (existing && existing.status.model.name === manifest.name && existing.status.model.version === key.modelVersion) {
      if (existing.status.state === 'running') return existing.status;
      if (existing.status.state === 'done' && (await findCachedChm(varDir, key))) return existing.status;
    }
    if (existing?.status.state === 'running') existing.controller.abort();

    const startedAt = new Date().toISOString();
    const status: ChmStatus = {
      rasterId: entry.id, model: { name: manifest.name, version: key.modelVersion }, state: 'running',
      progress: { done: 0, total: 0, elapsedSeconds: 0, etaSeconds: null }, chmId: null, error: null, startedAt, finishedAt: null, cached: false,
    };
    const cached = await findCachedChm(varDir, key);
    if (cached) {
      await this.publish(entry, cached.path, status);
      status.cached = true;
      this.byRaster.set(entry.id, { status, modelArg: opts.model, controller: new AbortController(), promise: Promise.resolve() });
      return status;
    }
    const running = [...this.byRaster.values()].filter((c) => c.status.state === 'running').length;
    if (running >= (this.options.maxRunning ?? 2)) throw new BusyError(`${running} canopy height computations are running; try again when one finishes`);

    const controller = new AbortController();
    const comp: Computation = { status, modelArg: opts.model, controller, promise: Promise.resolve() };
    this.byRaster.set(entry.id, comp);
    comp.promise = this.run(entry, manifest, key, comp, opts.aerial === true);
    return status;
  }

  private async run(entry: CatalogEntry, manifest: LoadedManifest, key: ChmCacheKey, comp: Computation, aerial: boolean): Promise<void> {
    const { catalog, varDir } = this.options;
    const { status, controller } = comp;
    try {
      await ensureCacheDir(varDir);
      const source = await catalog.source(entry.id);
      const path = chmCachePath(varDir, key);
      await computeChm(path, {
        source, manifest, aerial, signal: controller.signal, batchSize: this.options.batchSize,
        onProgress: (p) => { status.progress = p; },
      });
      if (controller.signal.aborted) throw new CancelledError();
      await recordCachedChm(varDir, key);
      await removeStale(varDir, entry.id, manifest.name, path);
      await this.publish(entry, path, status);
    } catch (err) {
      status.state = err instanceof CancelledError || controller.signal.aborted ? 'cancelled' : 'failed';
      status.error = err instanceof Error ? err.message : String(err);
      status.finishedAt = new Date().toISOString();
      if (status.state === 'failed') console.error(`[chm] ${entry.id}: ${status.error}`);
    }
  }

  private async publish(entry: CatalogEntry, path: string, status: ChmStatus): Promise<void> {
    const chmId = chmIdFor(entry.id);
    await this.options.catalog.register(path, { id: chmId, role: 'chm', sourceId: entry.id });
    status.chmId = chmId;
    status.state = 'done';
    status.finishedAt = new Date().toISOString();
    if (status.progress.total === 0) status.progress = { ...status.progress, etaSeconds: 0 };
  }

  /** Status of the latest computation for a raster, or null when none was started. */
  status(rasterId: string): ChmStatus | null {
    return this.byRaster.get(rasterId)?.status ?? null;
  }

  /** Cancel a running computation; returns its status (unchanged when not running). */
  cancel(rasterId: string): ChmStatus | null {
    const comp = this.byRaster.get(rasterId);
    if (comp?.status.state === 'running') comp.controller.abort();
    return comp?.status ?? null;
  }

  /** Resolves when the raster's current computation has settled (tests, shutdown). */
  async settled(rasterId: string): Promise<ChmStatus | null> {
    const comp = this.byRaster.get(rasterId);
    if (!comp) return null;
    await comp.promise;
    return comp.status;
  }

  /** A replaced image gets its CHM recomputed with the same model; a removed one loses its CHM. */
  private async rasterChanged(e: CatalogChange): Promise<void> {
    if (e.entry.role !== 'image' || e.type === 'added') return;
    const comp = this.byRaster.get(e.entry.id);
    if (!comp) return;
    comp.controller.abort();
    await comp.promise;
    if (this.byRaster.get(e.entry.id) !== comp) return; // a newer computation already took over
    const { catalog } = this.options;
    const chmId = chmIdFor(e.entry.id);
    if (catalog.has(chmId)) await catalog.remove(chmId).catch(() => undefined);
    this.byRaster.delete(e.entry.id);
    if (e.type === 'replaced') {
      await this.start(e.entry.id, { model: comp.modelArg }).catch((err) => {
        console.error(`[chm] recomputing ${e.entry.id} after it was replaced: ${err instanceof Error ? err.message : err}`);
      });
    } else {
      await removeStale(this.options.varDir, e.entry.id, comp.status.model.name, null);
    }
  }

  /** Stop listening and cancel everything running. */
  async close(): Promise<void> {
    this.options.catalog.off('change', this.onChange);
    for (const c of this.byRaster.values()) c.controller.abort();
    await Promise.all([...this.byRaster.values()].map((c) => c.promise));
  }
}

const services = new WeakMap<object, { service: ChmService; restored: Promise<unknown> }>();

/**
 * The CHM service of a server context (one per context, created on first use; CHMs cached on disk
 * are registered again as it starts). Other stages get the same instance through this function.
 */
export function chmServiceFor(ctx: { config: { varDir: string }; catalog: Catalog }, options: Partial<ChmServiceOptions> = {}): { service: ChmService; restored: Promise<unknown> } {
  let s = services.get(ctx);
  if (!s) {
    const service = new ChmService({ catalog: ctx.catalog, varDir: ctx.config.varDir, ...options });
    const restored = service.restore().catch((err) => console.error(`[chm] restoring cached CHMs: ${err instanceof Error ? err.message : err}`));
    s = { service, restored };
    services.set(ctx, s);
  }
  return s;
}

/** Cancels a context's computations and forgets the service (tests, shutdown). */
export async function closeChmService(ctx: object): Promise<void> {
  const s = services.get(ctx);
  services.delete(ctx);
  await s?.service.close();
}
