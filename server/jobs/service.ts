/**
 * The job service the HTTP routes use: the SQLite store under varDir/jobs.sqlite, the work queue
 * (embedded, or BullMQ when JOBS_QUEUE=bullmq; unit outputs under varDir/units), the runner, and
 * the forest-map pipeline wired together. One per server (per AppContext), created on first use; on creation it resumes the jobs
 * a previous process left unfinished. Trees units take already detected trees from the server's
 * tree service (server/trees/service.ts) when it has them for the CHM a job reads.
 */
import { join } from 'node:path';
import type { Catalog, CatalogChange } from '../catalog/catalog.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { JobStore, type JobRecord } from './store.ts';
import { evictUnitCache, SqliteWorkQueue, type UnitExecutor, type UnitQueue } from './queue.ts';
import { BullWorkQueue, redisConnection, startUnitWorker } from './bullmq.queue.ts';
import { JobRunner, type RunnerLimits } from './runner.ts';
import { parseExecuteRequest, PROCESS_ID } from './process.forest-map.ts';
import { DEFAULT_BLOCK_SIZE, planForestMap, runForestMap, type ForestMapPlan, type PipelineSummary } from './pipeline.ts';
import { executeUnit, defaultResources, unitKindConcurrency, type RasterRef, type TreeStoreLookup, type UnitSpec } from './units.ts';
import { runningTreeService } from '../trees/service.ts';
import type { RegionLimits } from '../features/region.ts';

export interface JobsConfig {
  limits: RunnerLimits;
  region: RegionLimits;
  /** Regions up to this area (km²) run synchronously when the client does not ask for async. */
  syncMaxKm2: number;
  /** Trees tile and CHM block sizes in pixels (small tiles make tests slow enough to interrupt). */
  tileSize: number;
  blockSize: number;
  /** Largest execute request body. */
  maxBodyBytes: number;
  /** Units run at once within a job. */
  unitConcurrency: number;
  /** Finished jobs (and their result files) are forgotten this many days after finishing; 0 keeps them. */
  retentionDays: number;
  /**
   * Bytes of cached unit outputs (CHM blocks, trees tiles) kept for later jobs; beyond it the least
   * recently used go (never those of waiting or running jobs). 0 keeps only what active jobs use.
   */
  unitCacheBytes: number;
  /**
   * Where units run: in this process ('sqlite', the embedded default), or through a BullMQ queue
   * in Redis ('bullmq'), taken by `forestmap worker` processes on any machine sharing VAR_DIR/units
   * (and by one worker inside this server unless localWorker is false).
   */
  queue: { kind: 'sqlite' } | { kind: 'bullmq'; redisUrl: string; localWorker: boolean; prefix?: string };
}

function envNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number in [${min}, ${max}], got '${raw}'`);
  return n;
}

const RETENTION_CHECK_MS = 3_600_000;

/** Job limits from the environment (documented in the README's jobs section). */
export function loadJobsConfig(env: NodeJS.ProcessEnv = process.env): JobsConfig {
  return {
    limits: { maxRunning: envNumber(env, 'JOBS_MAX_RUNNING', 1, 1, 64), maxQueued: envNumber(env, 'JOBS_MAX_QUEUED', 8, 0, 10000) },
    region: { maxAreaKm2: envNumber(env, 'REGION_MAX_KM2', 25, 0.0001, 1e6), maxVertices: envNumber(env, 'REGION_MAX_VERTICES', 20000, 4, 1e6) },
    syncMaxKm2: envNumber(env, 'JOBS_SYNC_MAX_KM2', 0.05, 0, 1e6),
    tileSize: Math.round(envNumber(env, 'JOBS_TILE_SIZE', 512, 16, 8192)),
    blockSize: Math.round(envNumber(env, 'JOBS_BLOCK_SIZE', DEFAULT_BLOCK_SIZE, 16, 16384)),
    maxBodyBytes: envNumber(env, 'JOBS_MAX_BODY_KB', 1024, 1, 1e6) * 1024,
    unitConcurrency: Math.round(envNumber(env, 'JOBS_UNIT_CONCURRENCY', 1, 1, 64)),
    retentionDays: envNumber(env, 'JOBS_RETENTION_DAYS', 30, 0, 36500),
    unitCacheBytes: envNumber(env, 'JOBS_UNIT_CACHE_GB', 20, 0, 1e6) * 2 ** 30,
    queue: queueConfig(env),
  };
}

function queueConfig(env: NodeJS.ProcessEnv): JobsConfig['queue'] {
  const kind = env.JOBS_QUEUE || 'sqlite';
  if (kind === 'sqlite') return { kind };
  if (kind !== 'bullmq') throw new Error(`JOBS_QUEUE must be 'sqlite' or 'bullmq', got '${kind}'`);
  const redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379';
  redisConnection(redisUrl); // a malformed URL stops the server at start, not the first job
  const local = env.JOBS_LOCAL_WORKER ?? '1';
  if (local !== '0' && local !== '1') throw new Error(`JOBS_LOCAL_WORKER must be 0 or 1, got '${local}'`);
  return { kind, redisUrl, localWorker: local === '1', ...(env.JOBS_QUEUE_PREFIX ? { prefix: env.JOBS_QUEUE_PREFIX } : {}) };
}

export interface JobServiceOptions {
  varDir: string;
  catalog: Pick<Catalog, 'get'> & Partial<Pick<Catalog, 'on' | 'off'>>;
  config?: JobsConfig;
  /**
   * The server's finished tree stores (its TreeService), looked up as units run; absent or null:
   * every trees unit detects its trees (as `forestmap process` does).
   */
  treeStores?: () => TreeStoreLookup | null;
}

export class JobService {
  readonly store: JobStore;
  readonly queue: UnitQueue<UnitSpec>;
  private readonly localWorker: { close(): Promise<void> } | null = null;
  readonly runner: JobRunner;
  readonly config: JobsConfig;

  constructor(private readonly opts: JobServiceOptions) {
    this.config = opts.config ?? loadJobsConfig();
    this.store = new JobStore(join(opts.varDir, 'jobs.sqlite'));
    const pathOf = (key: string) => this.queue.resultPath(key);
    const resources = defaultResources(pathOf, opts.treeStores);
    const execute: UnitExecutor<UnitSpec> = (unit, out, signal, progress) => executeUnit(unit, out, signal, resources, progress);
    const unitsDir = join(opts.varDir, 'units');
    const q = this.config.queue;
    if (q.kind === 'bullmq') {
      const connection = redisConnection(q.redisUrl);
      this.queue = new BullWorkQueue<UnitSpec>({ connection, resultDir: unitsDir, store: this.store, prefix: q.prefix });
      if (q.localWorker) this.localWorker = startUnitWorker<UnitSpec>({ connection, resultDir: unitsDir, execute, prefix: q.prefix, kinds: unitKindConcurrency(this.config.unitConcurrency) });
    } else {
      this.queue = new SqliteWorkQueue<UnitSpec>(this.store, unitsDir, execute, this.config.unitConcurrency);
    }
    this.unitsDir = unitsDir;
    this.runner = new JobRunner(this.store, join(opts.varDir, 'jobs'), async ({ job, outDir, signal, progress }) => {
      try {
        const plan = job.inputs as ForestMapPlan;
        const summary = await runForestMap({ plan, queue: this.queue, pathOf, outDir, jobId: job.id, signal, progress: (f, m) => progress(f * 100, m) });
        return resultSummary(summary);
      } finally {
        // every job adds units: the cache is brought back within its budget after each
        void this.evictUnits();
      }
    }, this.config.limits);
    // a replaced or removed raster's unit outputs can never be used again (keys carry the version)
    opts.catalog.on?.('change', this.onCatalogChange);
    this.runner.resume();
    void this.evictUnits();
    if (this.config.retentionDays > 0) {
      this.purgeExpired();
      this.retentionTimer = setInterval(() => this.purgeExpired(), RETENTION_CHECK_MS);
      this.retentionTimer.unref();
    }
  }

  private retentionTimer: NodeJS.Timeout | null = null;
  private readonly unitsDir: string;
  private evicting: Promise<void> | null = null;
  private evictAgain = false;
  private closing = false;

  /**
   * Brings the unit cache within its budget (evictUnitCache): after each job and at start. One pass
   * at a time; a request during a pass runs one more after it. Resolves when no pass is left.
   */
  evictUnits(): Promise<void> {
    if (this.evicting) {
      this.evictAgain = true;
      return this.evicting;
    }
    this.evicting = (async () => {
      do {
        this.evictAgain = false;
        try {
          const e = await evictUnitCache(this.store, this.unitsDir, this.config.unitCacheBytes);
          if (e.removed.length) {
            const mb = (b: number) => Math.round(b / 2 ** 20);
            console.log(`[jobs] unit cache over its ${mb(this.config.unitCacheBytes)} MB: evicted ${e.removed.length} unit(s), ${mb(e.bytesBefore)} -> ${mb(e.bytesAfter)} MB`);
          }
        } catch (err) {
          console.error('[jobs] unit cache eviction failed:', err);
        }
      } while (this.evictAgain && !this.closing);
      // in the same step as the last check: a request arriving now starts a new pass, none is lost
      this.evicting = null;
    })();
    return this.evicting;
  }

  /** Forgets jobs that finished more than retentionDays ago; returns how many. */
  purgeExpired(now = new Date()): number {
    if (!(this.config.retentionDays > 0)) return 0;
    const n = this.runner.purgeFinishedBefore(new Date(now.getTime() - this.config.retentionDays * 86_400_000));
    if (n) console.log(`[jobs] forgot ${n} job(s) finished more than ${this.config.retentionDays} days ago`);
    return n;
  }

  private onCatalogChange = (e: CatalogChange) => {
    if (e.type !== 'added') this.queue.forgetPrefix(`${e.entry.id}@`);
  };

  private resolveRaster = (id: string): RasterRef => {
    const e = this.opts.catalog.get(id);
    return { id: e.id, path: e.path, version: e.version, role: e.role === 'chm' ? 'chm' : 'image' };
  };

  /** Validates an execute body against the catalog and models; throws a domain error saying what is wrong. */
  async plan(body: unknown): Promise<ForestMapPlan> {
    const req = parseExecuteRequest(body);
    return planForestMap(req, {
      resolveRaster: this.resolveRaster, regionLimits: this.config.region, allowModelPaths: false,
      varDir: this.opts.varDir, tileSize: this.config.tileSize, blockSize: this.config.blockSize,
    });
  }

  submit(plan: ForestMapPlan): JobRecord {
    return this.runner.submit(PROCESS_ID, plan);
  }

  /** A job's output file, once the job has succeeded. */
  resultFile(id: string, file: string): string {
    const job = this.assertSuccessful(id);
    const outputs = (job.result as { outputs?: Record<string, string> } | null)?.outputs ?? {};
    const name = Object.entries(outputs).find(([, f]) => f === file)?.[0];
    if (!name) throw new NotFoundError(`job '${id}' has no result '${file}'; it has ${Object.values(outputs).join(', ') || 'none'}`);
    return join(this.runner.outDir(id), file);
  }

  assertSuccessful(id: string): JobRecord {
    const job = this.runner.get(id);
    if (job.status === 'failed') throw new ConflictError(`job '${id}' failed: ${job.message}`);
    // a dismissed job's results will never come: "not ready" would tell the client to keep polling
    if (job.status === 'dismissed') throw new NotFoundError(`job '${id}' was dismissed: it has no results`);
    if (job.status !== 'successful') {
      throw new NotFoundError(`results of job '${id}' are not ready (status ${job.status})`, { type: 'http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/result-not-ready' });
    }
    return job;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.opts.catalog.off?.('change', this.onCatalogChange);
    await this.runner.close();
    await this.localWorker?.close();
    await this.queue.close?.();
    // an eviction pass writes to the store when its scan is done
    await this.evicting;
    this.store.close();
  }
}

/** What a successful job stores: statistics and the output file names (not paths: the folder may move). */
export interface JobResultSummary {
  statistics: PipelineSummary['statistics'];
  outputs: Record<string, string>;
  units: PipelineSummary['units'];
}

function resultSummary(s: PipelineSummary): JobResultSummary {
  const outputs: Record<string, string> = {};
  for (const [name, path] of Object.entries(s.outputs)) outputs[name] = path!.split(/[\\/]/).pop()!;
  return { statistics: s.statistics, outputs, units: s.units };
}

const services = new WeakMap<object, JobService>();

/** The job service of a server context (one per context; created and resumed on first use). */
export function jobServiceFor(ctx: { config: { varDir: string }; catalog: JobServiceOptions['catalog'] }): JobService {
  let s = services.get(ctx);
  if (!s) {
    // the context's tree service, if running when a unit runs (never started or revived from here)
    s = new JobService({ varDir: ctx.config.varDir, catalog: ctx.catalog, treeStores: () => runningTreeService(ctx) });
    services.set(ctx, s);
  }
  return s;
}

/** Closes a context's job service (tests, shutdown); running jobs stay 'running' and resume next start. */
export async function closeJobService(ctx: object): Promise<void> {
  const s = services.get(ctx);
  services.delete(ctx);
  await s?.close();
}
