/**
 * Scale-out: the job's work units on a BullMQ queue in Redis, run by unit workers on any number of
 * machines (docs/scale-out.md). The seam is `WorkQueue`: the pipeline, the job runner and the HTTP
 * API are the same as with the embedded `SqliteWorkQueue`.
 *
 * - The API server keeps the job store (SQLite): jobs, their units, which units are done, and
 *   unit key → output path. Only units travel through Redis.
 * - A BullMQ job is one unit: its id is the hash of the unit key (the output file's name), so a
 *   unit queued or running for another job is not added twice, and its output serves both. Each
 *   unit kind has its own queue, so a worker runs CHM blocks one or two at a time (each uses every
 *   core) and trees tiles several at a time (their detection runs on a thread per core), and a
 *   deployment can send the kinds to different machines.
 * - Workers (`forestmap worker`, or one inside the server) run the same `executeUnit` and write the
 *   output to the shared results folder (temp + rename), named from the key alone.
 * - `run` resolves when every unit's output file exists. Events (completed, failed, progress) make
 *   that prompt; a poll of the files and of the BullMQ jobs makes it certain (an event missed
 *   across a Redis reconnect, a job removed from Redis, a worker killed mid-unit: BullMQ requeues a
 *   stalled unit, and a unit gone from Redis without its output is added again).
 * - Cancelling removes the job's units that no worker has started; running ones finish (BullMQ
 *   does not preempt) and their outputs stay, ready for a later job.
 */
import { existsSync } from 'node:fs';
import { makeDirectory } from '../fs.dirs.ts';
import { Queue, QueueEvents, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { CancelledError } from '../errors.ts';
import type { JobStore } from './store.ts';
import { forgetStoredResults, RunProgress, sweepStaleUnitTemporaries, touchUnitResult, unitKeyHash, unitResultPath, type RunOptions, type UnitExecutor, type UnitQueue, type WorkUnit } from './queue.ts';

export const DEFAULT_UNIT_QUEUE = 'forestmap-units';

/** Redis connection options from a redis:// URL (host, port, user, password, db). */
export function redisConnection(url: string): ConnectionOptions {
  const notRedis = new Error(`not a Redis URL: '${url}' (expected redis://[user:password@]host[:port][/db])`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw notRedis;
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw notRedis;
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new Error(`Redis URL '${url}': the database must be a number`);
  return {
    host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 6379, db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's blocking commands wait indefinitely; it requires this for workers
    maxRetriesPerRequest: null,
  };
}

export interface BullQueueOptions {
  connection: ConnectionOptions;
  /** The shared folder every worker writes unit outputs to (the server reads them from here). */
  resultDir: string;
  /** Records the job's units and which are done, as the embedded queue does (resume, progress). */
  store: JobStore;
  queueName?: string;
  /** Redis key prefix (separates installations sharing one Redis). */
  prefix?: string;
  /** Tries per unit before the job fails with the unit's error. */
  attempts?: number;
  pollMs?: number;
}

interface UnitJobData<S> {
  key: string;
  spec: S;
}

/** The BullMQ job id of a unit: the hash that also names its output file. */
export const unitJobId = unitKeyHash;

/** The BullMQ queue of one kind of unit: CHM blocks and trees tiles go to different workers' lanes. */
export function unitQueueName(base: string, kind: string): string {
  return `${base}-${kind}`;
}

interface Lane {
  queue: Queue;
  events: QueueEvents;
}

export class BullWorkQueue<S> implements UnitQueue<S> {
  private readonly lanes = new Map<string, Lane>();
  private readonly attempts: number;
  private readonly pollMs: number;

  constructor(private readonly opts: BullQueueOptions) {
    makeDirectory(opts.resultDir);
    this.attempts = opts.attempts ?? 3;
    this.pollMs = opts.pollMs ?? 500;
  }

  /** The queue (and its events) of a unit kind, opened on first use. */
  private lane(kind: string): Lane {
    let lane = this.lanes.get(kind);
    if (!lane) {
      const name = unitQueueName(this.opts.queueName ?? DEFAULT_UNIT_QUEUE, kind);
      const common = { connection: this.opts.connection, ...(this.opts.prefix ? { prefix: this.opts.prefix } : {}) };
      lane = { queue: new Queue(name, common), events: new QueueEvents(name, common) };
      // an unreachable Redis must not crash the server: runs fail with the reason instead
      lane.queue.on('error', () => undefined);
      lane.events.on('error', () => undefined);
      this.lanes.set(kind, lane);
    }
    return lane;
  }

  private laneOf(unit: WorkUnit<S>): Lane {
    return this.lane(unitKind(unit.spec));
  }

  /** A unit as a BullMQ job: finished jobs leave Redis at once (the output file is the record of a finished unit). */
  private bullJob(unit: WorkUnit<S>) {
    const data: UnitJobData<S> = { key: unit.key, spec: unit.spec };
    return {
      name: unitKind(unit.spec), data,
      opts: { jobId: unitJobId(unit.key), attempts: this.attempts, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: true, removeOnFail: true },
    };
  }

  resultPath(key: string): string {
    return unitResultPath(this.opts.resultDir, key);
  }

  forgetPrefix(prefix: string): number {
    return forgetStoredResults(this.opts.store, prefix);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.lanes.values()].flatMap((l) => [l.events.close(), l.queue.close()]));
  }

  async run(jobId: string, units: readonly WorkUnit<S>[], opts: RunOptions): Promise<string[]> {
    const { store } = this.opts;
    store.putUnits(jobId, units.map((u) => u.key));
    const paths = units.map((u) => this.resultPath(u.key));
    const pending = new Map<string, number>();
    for (let i = 0; i < units.length; i++) {
      if (existsSync(paths[i])) {
        touchUnitResult(paths[i]);
        this.finish(jobId, units, paths, i);
        opts.onUnitDone?.(i);
      } else pending.set(unitJobId(units[i].key), i);
    }
    const progress = new RunProgress(units.length - pending.size, units.length, opts.onProgress);
    if (!pending.size) return paths;
    if (opts.signal.aborted) throw new CancelledError();
    const lanes = [...new Set([...pending.values()].map((i) => this.laneOf(units[i])))];
    await withTimeout(Promise.all(lanes.flatMap((l) => [l.queue.waitUntilReady(), l.events.waitUntilReady()])), 10_000, 'Redis is not reachable for the unit queue');

    const readded = new Map<string, number>();
    let settle!: (err?: Error) => void;
    const finished = new Promise<void>((resolve, reject) => { settle = (err) => (err ? reject(err) : resolve()); });
    const complete = (id: string) => {
      const i = pending.get(id);
      if (i === undefined || !existsSync(paths[i])) return false;
      pending.delete(id);
      this.finish(jobId, units, paths, i);
      progress.finished(i);
      opts.onUnitDone?.(i);
      if (!pending.size) settle();
      return true;
    };
    const onCompleted = ({ jobId: id }: { jobId: string }) => { complete(id); };
    const onFailed = ({ jobId: id, failedReason }: { jobId: string; failedReason: string }) => {
      const i = pending.get(id);
      if (i !== undefined) settle(new Error(`work unit ${units[i].key} failed: ${failedReason}`));
    };
    const onProgress = ({ jobId: id, data }: { jobId: string; data: unknown }) => {
      const i = pending.get(id);
      if (i !== undefined && typeof data === 'number') progress.partial(i, data);
    };
    const onAbort = () => settle(new CancelledError());
    for (const l of lanes) {
      l.events.on('completed', onCompleted);
      l.events.on('failed', onFailed);
      l.events.on('progress', onProgress);
    }
    opts.signal.addEventListener('abort', onAbort);
    let polls = 0;
    const poll = setInterval(() => {
      for (const id of [...pending.keys()]) complete(id);
      // now and then, make sure every pending unit is still somewhere in Redis (or add it again)
      if (++polls % 10 === 0 && pending.size) void this.requeueLost(pending, units, readded).catch((err) => settle(err instanceof Error ? err : new Error(String(err))));
    }, this.pollMs);
    try {
      for (const l of lanes) {
        const mine = [...pending.values()].filter((i) => this.laneOf(units[i]) === l);
        await l.queue.addBulk(mine.map((i) => this.bullJob(units[i])));
      }
      // a unit may have finished between the check above and the events' subscription
      for (const id of [...pending.keys()]) complete(id);
      if (!pending.size) settle();
      await finished;
      return paths;
    } catch (err) {
      // units no worker has started are withdrawn; running ones finish and their outputs stay
      // (bounded: with Redis down, a cancel must still end the job)
      await withTimeout(Promise.allSettled([...pending].map(([id, i]) => this.laneOf(units[i]).queue.remove(id))), 5000, '').catch(() => undefined);
      throw err;
    } finally {
      clearInterval(poll);
      for (const l of lanes) {
        l.events.off('completed', onCompleted);
        l.events.off('failed', onFailed);
        l.events.off('progress', onProgress);
      }
      opts.signal.removeEventListener('abort', onAbort);
    }
  }

  private finish(jobId: string, units: readonly WorkUnit<S>[], paths: string[], i: number): void {
    this.opts.store.recordUnitResult(units[i].key, paths[i]);
    this.opts.store.markUnitDone(jobId, i);
  }

  private async requeueLost(pending: Map<string, number>, units: readonly WorkUnit<S>[], readded: Map<string, number>): Promise<void> {
    const states = await Promise.all([...pending].map(async ([id, i]) => [id, await this.laneOf(units[i]).queue.getJobState(id)] as const));
    for (const [id, state] of states) {
      const i = pending.get(id);
      if (i === undefined || state !== 'unknown' || existsSync(this.resultPath(units[i].key))) continue;
      const n = (readded.get(id) ?? 0) + 1;
      if (n > this.attempts) throw new Error(`work unit ${units[i].key} left the queue ${n - 1} times without an output`);
      readded.set(id, n);
      const job = this.bullJob(units[i]);
      await this.laneOf(units[i]).queue.add(job.name, job.data, job.opts);
    }
  }
}

function unitKind(spec: unknown): string {
  return (spec as { kind?: string })?.kind ?? 'unit';
}

export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); })]).finally(() => clearTimeout(timer));
}

export interface UnitWorkerOptions<S> {
  connection: ConnectionOptions;
  resultDir: string;
  execute: UnitExecutor<S>;
  /** The unit kinds this worker takes, and how many of each it runs at once. */
  kinds: Record<string, number>;
  queueName?: string;
  prefix?: string;
  /**
   * How long a unit stays claimed without the worker renewing it (ms, default 60 s), and how often
   * claims are checked: a unit whose worker died goes back to the queue after about this long.
   */
  lockDuration?: number;
  stalledInterval?: number;
  /** Called after each unit this worker ran (logging). */
  onUnit?: (key: string, seconds: number) => void;
}

export interface UnitWorker {
  workers: Worker[];
  waitUntilReady(): Promise<void>;
  /** Waits for the units it is running; `force`: stops at once, leaving them to stall (tests). */
  close(force?: boolean): Promise<void>;
}

/**
 * A unit worker: takes units of the given kinds from their queues and writes their outputs to the
 * shared folder.
 */
export function startUnitWorker<S>(opts: UnitWorkerOptions<S>): UnitWorker {
  makeDirectory(opts.resultDir);
  sweepStaleUnitTemporaries(opts.resultDir);
  const runUnit = async (job: Job<UnitJobData<S>>): Promise<void> => {
    const { key, spec } = job.data;
    const out = unitResultPath(opts.resultDir, key);
    // another worker (or an earlier try) already wrote it: outputs of equal keys are equal
    if (existsSync(out)) return;
    const t0 = performance.now();
    let last = 0;
    const progress = (f: number) => {
      // a CHM block reports per strip: pass on a few steps, not every strip
      if (f - last < 0.05 && f < 1) return;
      last = f;
      void job.updateProgress(f).catch(() => undefined);
    };
    await opts.execute({ key, spec }, out, new AbortController().signal, progress);
    if (!existsSync(out)) throw new Error(`work unit ${key} finished without writing its output`);
    opts.onUnit?.(key, (performance.now() - t0) / 1000);
  };
  const workers = Object.entries(opts.kinds).map(([kind, concurrency]) => {
    const worker = new Worker(unitQueueName(opts.queueName ?? DEFAULT_UNIT_QUEUE, kind), runUnit, {
      connection: opts.connection,
      ...(opts.prefix ? { prefix: opts.prefix } : {}),
      concurrency,
      // a CHM block takes minutes on a small machine: the lock is renewed while it runs; a worker
      // killed mid-unit leaves it stalled, and another worker takes it up again
      lockDuration: opts.lockDuration ?? 60_000,
      stalledInterval: opts.stalledInterval ?? 30_000,
      maxStalledCount: 3,
    });
    worker.on('error', (err) => console.warn(`[worker] ${err.message}`));
    return worker;
  });
  return {
    workers,
    waitUntilReady: async () => { await Promise.all(workers.map((w) => w.waitUntilReady())); },
    close: async (force = false) => { await Promise.all(workers.map((w) => w.close(force))); },
  };
}
