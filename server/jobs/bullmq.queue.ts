/**
 * Scale-out: the job's work units on a BullMQ queue in Redis, run by unit workers on any number of
 * machines (docs/scale-out.md). The seam is `WorkQueue`: the pipeline, the job runner and the HTTP
 * API are the same as with the embedded `SqliteWorkQueue`.
 *
 * - The API server keeps the job store (SQLite): jobs, their units, which units are done, and
 *   unit key → output path. Only units travel through Redis.
 * - A BullMQ job is one unit: its id is the hash of the unit key (the output file's name), so a
 *   unit queued or running for another job is not added twice, and its output serves both.
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
import { mkdirSync } from 'node:fs';
import { basename } from 'node:path';
import { Queue, QueueEvents, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { CancelledError } from '../errors.ts';
import type { JobStore } from './store.ts';
import { forgetStoredResults, unitResultPath, type RunOptions, type UnitExecutor, type UnitQueue, type WorkUnit } from './queue.ts';

export const DEFAULT_UNIT_QUEUE = 'forestmap-units';

/** Redis connection options from a redis:// URL (host, port, user, password, db). */
export function redisConnection(url: string): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`not a Redis URL: '${url}' (expected redis://[user:password@]host[:port][/db])`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`not a Redis URL: '${url}' (expected redis://[user:password@]host[:port][/db])`);
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
export function unitJobId(key: string): string {
  return basename(unitResultPath('', key), '.bin');
}

export class BullWorkQueue<S> implements UnitQueue<S> {
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly attempts: number;
  private readonly pollMs: number;

  constructor(private readonly opts: BullQueueOptions) {
    mkdirSync(opts.resultDir, { recursive: true });
    const name = opts.queueName ?? DEFAULT_UNIT_QUEUE;
    const common = { connection: opts.connection, ...(opts.prefix ? { prefix: opts.prefix } : {}) };
    this.queue = new Queue(name, common);
    this.events = new QueueEvents(name, common);
    // an unreachable Redis must not crash the server: runs fail with the reason instead
    this.queue.on('error', () => undefined);
    this.events.on('error', () => undefined);
    this.attempts = opts.attempts ?? 3;
    this.pollMs = opts.pollMs ?? 500;
  }

  resultPath(key: string): string {
    return unitResultPath(this.opts.resultDir, key);
  }

  forgetPrefix(prefix: string): number {
    return forgetStoredResults(this.opts.store, prefix);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }

  private jobOptions(key: string) {
    // finished jobs leave Redis at once: the output file is the record of a finished unit
    return { jobId: unitJobId(key), attempts: this.attempts, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: true, removeOnFail: true };
  }

  async run(jobId: string, units: readonly WorkUnit<S>[], opts: RunOptions): Promise<string[]> {
    const { store } = this.opts;
    store.putUnits(jobId, units.map((u) => u.key));
    const paths = units.map((u) => this.resultPath(u.key));
    const pending = new Map<string, number>();
    for (let i = 0; i < units.length; i++) {
      if (existsSync(paths[i])) this.finish(jobId, units, paths, i);
      else pending.set(unitJobId(units[i].key), i);
    }
    let done = units.length - pending.size;
    opts.onProgress?.(done, units.length);
    if (!pending.size) return paths;
    if (opts.signal.aborted) throw new CancelledError();
    await withTimeout(Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]), 10_000, 'Redis is not reachable for the unit queue');

    const partial = new Map<number, number>();
    const report = () => {
      let p = 0;
      for (const f of partial.values()) p += f;
      opts.onProgress?.(done + p * 0.999, units.length);
    };
    const readded = new Map<string, number>();
    let settle!: (err?: Error) => void;
    const finished = new Promise<void>((resolve, reject) => { settle = (err) => (err ? reject(err) : resolve()); });
    const complete = (id: string) => {
      const i = pending.get(id);
      if (i === undefined || !existsSync(paths[i])) return false;
      pending.delete(id);
      partial.delete(i);
      this.finish(jobId, units, paths, i);
      done++;
      report();
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
      if (i !== undefined && typeof data === 'number') { partial.set(i, Math.max(partial.get(i) ?? 0, Math.min(1, data))); report(); }
    };
    const onAbort = () => settle(new CancelledError());
    this.events.on('completed', onCompleted);
    this.events.on('failed', onFailed);
    this.events.on('progress', onProgress);
    opts.signal.addEventListener('abort', onAbort);
    let polls = 0;
    const poll = setInterval(() => {
      for (const id of [...pending.keys()]) complete(id);
      // now and then, make sure every pending unit is still somewhere in Redis (or add it again)
      if (++polls % 10 === 0 && pending.size) void this.requeueLost(pending, units, readded).catch((err) => settle(err instanceof Error ? err : new Error(String(err))));
    }, this.pollMs);
    try {
      await this.queue.addBulk([...pending].map(([, i]) => ({ name: unitKind(units[i].spec), data: { key: units[i].key, spec: units[i].spec } satisfies UnitJobData<S>, opts: this.jobOptions(units[i].key) })));
      // a unit may have finished between the check above and the events' subscription
      for (const id of [...pending.keys()]) complete(id);
      if (!pending.size) settle();
      await finished;
      return paths;
    } catch (err) {
      // units no worker has started are withdrawn; running ones finish and their outputs stay
      await Promise.allSettled([...pending.keys()].map((id) => this.queue.remove(id)));
      throw err;
    } finally {
      clearInterval(poll);
      this.events.off('completed', onCompleted);
      this.events.off('failed', onFailed);
      this.events.off('progress', onProgress);
      opts.signal.removeEventListener('abort', onAbort);
    }
  }

  private finish(jobId: string, units: readonly WorkUnit<S>[], paths: string[], i: number): void {
    this.opts.store.recordUnitResult(units[i].key, paths[i]);
    this.opts.store.markUnitDone(jobId, i);
  }

  private async requeueLost(pending: Map<string, number>, units: readonly WorkUnit<S>[], readded: Map<string, number>): Promise<void> {
    const states = await Promise.all([...pending.keys()].map(async (id) => [id, await this.queue.getJobState(id)] as const));
    for (const [id, state] of states) {
      const i = pending.get(id);
      if (i === undefined || state !== 'unknown' || existsSync(this.resultPath(units[i].key))) continue;
      const n = (readded.get(id) ?? 0) + 1;
      if (n > this.attempts) throw new Error(`work unit ${units[i].key} left the queue ${n - 1} times without an output`);
      readded.set(id, n);
      await this.queue.add(unitKind(units[i].spec), { key: units[i].key, spec: units[i].spec }, this.jobOptions(units[i].key));
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
  queueName?: string;
  prefix?: string;
  /** Units at once in this worker. */
  concurrency?: number;
  /**
   * How long a unit stays claimed without the worker renewing it (ms, default 60 s), and how often
   * claims are checked: a unit whose worker died goes back to the queue after about this long.
   */
  lockDuration?: number;
  stalledInterval?: number;
  /** Called after each unit this worker ran (logging). */
  onUnit?: (key: string, seconds: number) => void;
}

/** What a worker reports for each unit it ran (BullMQ's return value). */
export interface UnitRunReport {
  worker: string;
  computed: boolean;
}

/**
 * A unit worker: takes units from the queue and writes their outputs to the shared folder.
 * `close()` waits for the units it is running.
 */
export function startUnitWorker<S>(opts: UnitWorkerOptions<S>): { worker: Worker; close(): Promise<void> } {
  mkdirSync(opts.resultDir, { recursive: true });
  const name = `${process.pid}`;
  const worker = new Worker(opts.queueName ?? DEFAULT_UNIT_QUEUE, async (job: Job<UnitJobData<S>>): Promise<UnitRunReport> => {
    const { key, spec } = job.data;
    const out = unitResultPath(opts.resultDir, key);
    // another worker (or an earlier try) already wrote it: outputs of equal keys are equal
    if (existsSync(out)) return { worker: name, computed: false };
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
    return { worker: name, computed: true };
  }, {
    connection: opts.connection,
    ...(opts.prefix ? { prefix: opts.prefix } : {}),
    concurrency: opts.concurrency ?? 1,
    // a CHM block takes minutes on a small machine: the lock is renewed while it runs; a worker
    // killed mid-unit leaves it stalled, and another worker takes it up again
    lockDuration: opts.lockDuration ?? 60_000,
    stalledInterval: opts.stalledInterval ?? 30_000,
    maxStalledCount: 3,
  });
  worker.on('error', (err) => console.warn(`[worker] ${err.message}`));
  return { worker, close: () => worker.close() };
}
