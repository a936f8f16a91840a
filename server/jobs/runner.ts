/**
 * The job runner: admits jobs (with limits), runs them `maxRunning` at a time in submission order,
 * cancels them, and on start-up resumes every job the store says was accepted or running (after
 * a crash or kill -9 those are jobs that were interrupted; their finished units are reused).
 *
 * The runner knows nothing about forests: it is given an `execute` function per job. Job state
 * lives only in the store, so an HTTP handler, the runner and a restarted process agree on it.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BusyError, CancelledError, ConflictError, NotFoundError } from '../errors.ts';
import { ACTIVE_STATUSES, type JobRecord, type JobStore } from './store.ts';

export interface JobContext {
  job: JobRecord;
  /** Where this job's final outputs go (created, empty or holding a previous attempt's partial files). */
  outDir: string;
  signal: AbortSignal;
  /** Progress 0-100 plus a human message; persisted (throttled). */
  progress(percent: number, message: string): void;
}

/** Runs one job to completion and returns its result summary (stored with the job). */
export type JobExecutor = (ctx: JobContext) => Promise<unknown>;

export interface RunnerLimits {
  /** Jobs running at once. */
  maxRunning: number;
  /** Jobs waiting (accepted) beyond those running; more is a 429. */
  maxQueued: number;
}

export class JobRunner {
  private readonly running = new Map<string, AbortController>();
  private readonly waiters = new Map<string, Array<(job: JobRecord) => void>>();
  private closed = false;

  constructor(
    readonly store: JobStore,
    private readonly jobsDir: string,
    private readonly execute: JobExecutor,
    readonly limits: RunnerLimits = { maxRunning: 1, maxQueued: 8 },
  ) {
    mkdirSync(jobsDir, { recursive: true });
  }

  outDir(id: string): string {
    return join(this.jobsDir, id);
  }

  /** Re-queues interrupted jobs (call once at start-up). */
  resume(): void {
    for (const job of this.store.jobsWithStatus(['running'])) {
      this.store.updateJob(job.id, { status: 'accepted', message: 'resuming after restart' });
    }
    this.pump();
  }

  /** Admits a job or throws BusyError when the running and queued slots are full. */
  submit(process: string, inputs: unknown): JobRecord {
    const active = this.store.countWithStatus(ACTIVE_STATUSES);
    const capacity = this.limits.maxRunning + this.limits.maxQueued;
    if (active >= capacity) {
      throw new BusyError(`too many jobs: ${active} running or queued (limit ${capacity}); try again when one finishes`, { active, limit: capacity });
    }
    const job = this.store.createJob(process, inputs);
    this.pump();
    return this.store.getJob(job.id)!;
  }

  get(id: string): JobRecord {
    const job = this.store.getJob(id);
    if (!job) throw new NotFoundError(`no job '${id}'`, { type: 'http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/no-such-job' });
    return job;
  }

  /**
   * Dismisses a job: a queued one never starts, a running one is aborted (its finished units stay
   * cached), a finished one has its outputs removed. Returns the job as it now stands.
   */
  dismiss(id: string): JobRecord {
    const job = this.get(id);
    if (job.status === 'dismissed') return job;
    this.store.transition(id, [job.status], 'dismissed', { message: 'dismissed by request', finished: new Date().toISOString() });
    this.running.get(id)?.abort();
    if (!this.running.has(id)) rmSync(this.outDir(id), { recursive: true, force: true });
    this.notify(id);
    return this.get(id);
  }

  /**
   * Forgets jobs that finished before `cutoff` (retention): their record and output folder go,
   * so GET /jobs/{id} answers 404; the unit results they used stay cached for other jobs.
   * Returns how many were removed.
   */
  purgeFinishedBefore(cutoff: Date): number {
    let n = 0;
    for (const job of this.store.finishedBefore(cutoff.toISOString())) {
      if (this.running.has(job.id)) continue;
      rmSync(this.outDir(job.id), { recursive: true, force: true });
      this.store.deleteJob(job.id);
      n++;
    }
    return n;
  }

  /** Resolves when the job reaches a final status. */
  wait(id: string): Promise<JobRecord> {
    const job = this.get(id);
    if (!ACTIVE_STATUSES.includes(job.status)) return Promise.resolve(job);
    return new Promise((resolve) => {
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
    });
  }

  /** Stops taking jobs and aborts running ones; they stay 'running' in the store and resume on restart. */
  async close(): Promise<void> {
    this.closed = true;
    const ids = [...this.running.keys()];
    for (const c of this.running.values()) c.abort();
    await Promise.all(ids.map((id) => new Promise<void>((resolve) => {
      const check = () => (this.running.has(id) ? setTimeout(check, 10) : resolve());
      check();
    })));
  }

  private pump(): void {
    if (this.closed) return;
    while (this.running.size < this.limits.maxRunning) {
      const next = this.store.jobsWithStatus(['accepted']).find((j) => !this.running.has(j.id));
      if (!next) return;
      if (!this.store.transition(next.id, ['accepted'], 'running', { started: new Date().toISOString(), message: 'started' })) continue;
      const controller = new AbortController();
      this.running.set(next.id, controller);
      void this.runOne(this.store.getJob(next.id)!, controller);
    }
  }

  private async runOne(job: JobRecord, controller: AbortController): Promise<void> {
    const outDir = this.outDir(job.id);
    let lastWrite = 0;
    const progress = (percent: number, message: string) => {
      const now = Date.now();
      // throttle writes; the final 100 always lands
      if (percent < 100 && now - lastWrite < 250) return;
      lastWrite = now;
      this.store.transition(job.id, ['running'], 'running', { progress: Math.max(0, Math.min(100, Math.round(percent * 10) / 10)), message });
    };
    try {
      mkdirSync(outDir, { recursive: true });
      const result = await this.execute({ job, outDir, signal: controller.signal, progress });
      if (controller.signal.aborted) throw new CancelledError();
      this.store.transition(job.id, ['running'], 'successful', { progress: 100, message: 'done', result, finished: new Date().toISOString() });
    } catch (err) {
      const dismissed = this.store.getJob(job.id)?.status === 'dismissed';
      if (dismissed) {
        rmSync(outDir, { recursive: true, force: true });
      } else if (this.closed && (err instanceof CancelledError || controller.signal.aborted)) {
        // shutting down: leave it 'running' so the next start resumes it
      } else {
        const message = err instanceof Error ? err.message : String(err);
        if (!(err instanceof CancelledError) && !(err instanceof ConflictError)) console.error(`[jobs] job ${job.id} failed:`, err);
        this.store.transition(job.id, ['running'], 'failed', { message, finished: new Date().toISOString() });
      }
    } finally {
      this.running.delete(job.id);
      this.notify(job.id);
      this.pump();
    }
  }

  private notify(id: string): void {
    const job = this.store.getJob(id);
    if (!job || ACTIVE_STATUSES.includes(job.status)) return;
    for (const resolve of this.waiters.get(id) ?? []) resolve(job);
    this.waiters.delete(id);
  }
}
