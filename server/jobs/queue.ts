/**
 * Work units and the queue that runs them.
 *
 * A job is split into tile work units. A unit is idempotent and named by a content key: the same
 * key always produces the same output bytes (raster, raster version, model, tile, options hash),
 * so a unit can be retried, run twice, or run by another job that covers the same tile, and the
 * output is reused instead of recomputed.
 *
 * `WorkQueue` is the seam for scale-out (docs/scale-out.md): the embedded `SqliteWorkQueue` runs
 * units in this process and records them in the job store; `BullWorkQueue` (bullmq.queue.ts) adds
 * the same units to a Redis queue (BullMQ job id = hash of the unit key, so duplicates collapse)
 * and workers on other machines run the same `UnitExecutor` against shared storage. The runner and
 * the HTTP API do not change.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { CancelledError } from '../errors.ts';
import type { JobStore } from './store.ts';

export interface WorkUnit<S> {
  /** Content key: equal keys mean equal outputs. */
  key: string;
  /** What to compute (plain JSON, so it can travel to a remote worker). */
  spec: S;
}

/**
 * Computes one unit and writes its output to `outPath` (atomically: use writeFileAtomic).
 * `progress` (0-1) lets a long unit (a CHM block) move the job's progress bar.
 */
export type UnitExecutor<S> = (unit: WorkUnit<S>, outPath: string, signal: AbortSignal, progress: (fraction: number) => void) => Promise<void>;

export interface RunOptions {
  signal: AbortSignal;
  /** Units at once for this run, instead of the queue's own setting (units whose work runs on other threads). */
  concurrency?: number;
  /** Units done (fractional while units are part-way) out of the total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Unit `index` (into the run's units) has its output in place: called once per unit, for units
   * found done at the start too, so a caller can use the outputs before the whole run ends.
   */
  onUnitDone?: (index: number) => void;
}

export interface WorkQueue<S> {
  /**
   * Runs every unit of a job that has no stored result yet (resuming after a restart runs only
   * the missing ones), and resolves with each unit's output path, in unit order. Rejects with
   * CancelledError when the signal aborts; finished units stay recorded.
   */
  run(jobId: string, units: readonly WorkUnit<S>[], opts: RunOptions): Promise<string[]>;
}

/**
 * Writes a file so that readers see either nothing or the whole file: temp + rename. Several
 * chunks are written in sequence (no concatenated copy of a large payload).
 */
export function writeFileAtomic(path: string, data: Uint8Array | string | ReadonlyArray<Uint8Array>): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  if (Array.isArray(data)) {
    const fd = openSync(tmp, 'w');
    try {
      for (const chunk of data as ReadonlyArray<Uint8Array>) {
        for (let off = 0; off < chunk.byteLength;) off += writeSync(fd, chunk, off);
      }
    } finally {
      closeSync(fd);
    }
  } else {
    writeFileSync(tmp, data as Uint8Array | string);
  }
  renameSync(tmp, path);
}

/** A stable hash of a JSON-able value, for option hashes in unit keys. */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, 16);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * A queue the job service can hold: besides running units it names where a unit's output lives
 * (derived from the key alone, so every job and every worker finds it) and drops outputs that can
 * never be used again.
 */
export interface UnitQueue<S> extends WorkQueue<S> {
  resultPath(key: string): string;
  forgetPrefix(prefix: string): number;
  close?(): Promise<void>;
}

/** A unit key's fixed-length name: its output file's name, and its id in a distributed queue. */
export function unitKeyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

/** Where a unit's output lives under a results folder: derived from its key only. */
export function unitResultPath(resultDir: string, key: string): string {
  return join(resultDir, `${unitKeyHash(key)}.bin`);
}

/** A unit output's temporary (writeFileAtomic's and a CHM block's: `<hash>.bin.<pid>[.<rand>].tmp`). */
const UNIT_TEMPORARY = /^[0-9a-f]{32}\.bin\.\d+(\.[a-z0-9]+)?\.tmp$/;

/**
 * Removes unit output temporaries untouched for `maxAgeMs`: what a process killed mid-write left.
 * Age, not the writer's pid, decides, because with several machines sharing the folder a pid says
 * nothing; a CHM block being written touches its temporary with every strip, so an hour is far
 * beyond any live one. Returns how many were removed.
 */
export function sweepStaleUnitTemporaries(resultDir: string, maxAgeMs = 3_600_000, now = Date.now()): number {
  let removed = 0;
  for (const name of readdirSync(resultDir)) {
    if (!UNIT_TEMPORARY.test(name)) continue;
    const path = join(resultDir, name);
    try {
      if (now - statSync(path).mtimeMs < maxAgeMs) continue;
      rmSync(path, { force: true });
      removed++;
    } catch {
      // gone meanwhile (renamed into place, or swept by another worker)
    }
  }
  return removed;
}

/**
 * Marks a unit output as used now (its modification time): the unit cache evicts the least
 * recently used first, and the file's own time serves every machine sharing the folder.
 */
export function touchUnitResult(path: string): void {
  try {
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // gone meanwhile: the run that needs it finds out and recomputes it
  }
}

/** A unit output file's name: `<hash>.bin` (unitResultPath). */
const UNIT_RESULT = /^[0-9a-f]{32}\.bin$/;

export interface UnitCacheEviction {
  /** Bytes of unit outputs before and after, and the files removed (oldest use first). */
  bytesBefore: number;
  bytesAfter: number;
  removed: string[];
}

/**
 * Keeps the unit outputs in `resultDir` within `budgetBytes`: removes the least recently used
 * (modification time: written, or touched by a run that reused it) until the rest fit, never one
 * whose key hash is in `keep()` (units of jobs waiting or running, which rely on theirs). The
 * folder is scanned asynchronously; `keep()` is asked after the scan and the files are removed in
 * the same tick, so a job of this process that starts meanwhile is kept, not robbed. A cache, not
 * a record: an evicted unit is computed again by the next job that needs it.
 */
export async function evictUnitResults(resultDir: string, budgetBytes: number, keep: () => ReadonlySet<string>): Promise<UnitCacheEviction> {
  const files: Array<{ path: string; hash: string; bytes: number; used: number }> = [];
  for (const name of await readdir(resultDir)) {
    if (!UNIT_RESULT.test(name)) continue;
    const path = join(resultDir, name);
    try {
      const s = await stat(path);
      files.push({ path, hash: name.slice(0, 32), bytes: s.size, used: s.mtimeMs });
    } catch {
      // removed meanwhile (a raster's units forgotten)
    }
  }
  const bytesBefore = files.reduce((n, f) => n + f.bytes, 0);
  let bytes = bytesBefore;
  const removed: string[] = [];
  if (bytes <= budgetBytes) return { bytesBefore, bytesAfter: bytes, removed };
  const kept = keep();
  for (const f of files.filter((f) => !kept.has(f.hash)).sort((a, b) => a.used - b.used)) {
    if (bytes <= budgetBytes) break;
    rmSync(f.path, { force: true });
    bytes -= f.bytes;
    removed.push(f.path);
  }
  return { bytesBefore, bytesAfter: bytes, removed };
}

/**
 * Evicts unit outputs beyond `budgetBytes` (evictUnitResults), keeping those of the store's active
 * jobs, and drops the evicted ones' records.
 */
export async function evictUnitCache(store: JobStore, resultDir: string, budgetBytes: number): Promise<UnitCacheEviction> {
  const eviction = await evictUnitResults(resultDir, budgetBytes, () => new Set([...store.activeUnitKeys()].map(unitKeyHash)));
  store.forgetUnitResultsAt(eviction.removed);
  return eviction;
}

/**
 * A run's progress: the units done plus how far each unit in flight is, so a long unit (a CHM
 * block) moves the bar and the total never steps back.
 */
export class RunProgress {
  private readonly inFlight = new Map<number, number>();

  constructor(private done: number, private readonly total: number, private readonly onProgress?: (done: number, total: number) => void) {
    onProgress?.(done, total);
  }

  /** Unit `i` is `fraction` of the way. */
  partial(i: number, fraction: number): void {
    this.inFlight.set(i, Math.max(this.inFlight.get(i) ?? 0, Math.min(1, fraction)));
    this.report();
  }

  /** Unit `i` is no longer running (finished or failed); its part-way fraction no longer counts. */
  leave(i: number): void {
    this.inFlight.delete(i);
  }

  /** Unit `i` is done. */
  finished(i: number): void {
    this.inFlight.delete(i);
    this.done++;
    this.report();
  }

  private report(): void {
    let partial = 0;
    for (const f of this.inFlight.values()) partial += f;
    this.onProgress?.(this.done + partial * 0.999, this.total);
  }
}

/** Drops the recorded unit outputs whose key starts with `prefix`, files and records; returns how many. */
export function forgetStoredResults(store: JobStore, prefix: string): number {
  const paths = store.forgetUnitResultsWithPrefix(prefix);
  for (const p of paths) rmSync(p, { force: true });
  return paths.length;
}

/** `settled`'s value, or false as soon as `signal` aborts. */
function untilSettledOrAborted(settled: Promise<boolean>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
    void settled.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); });
  });
}

/** The embedded queue: units run in this process, `concurrency` at a time, recorded in SQLite. */
export class SqliteWorkQueue<S> implements UnitQueue<S> {
  /**
   * Units being computed, by key, each resolving to whether its output was written: a job that
   * needs a unit another job is computing waits for it instead of computing it a second time into
   * the same file (two jobs over one stand, with JOBS_MAX_RUNNING above 1).
   */
  private readonly executing = new Map<string, Promise<boolean>>();

  constructor(
    private readonly store: JobStore,
    private readonly resultDir: string,
    private readonly execute: UnitExecutor<S>,
    private readonly concurrency = 1,
  ) {
    mkdirSync(resultDir, { recursive: true });
    sweepStaleUnitTemporaries(resultDir);
  }

  /** Where a unit's output lives: derived from its key only, so every job finds it. */
  resultPath(key: string): string {
    return unitResultPath(this.resultDir, key);
  }

  async run(jobId: string, units: readonly WorkUnit<S>[], opts: RunOptions): Promise<string[]> {
    this.store.putUnits(jobId, units.map((u) => u.key));
    const paths = units.map((u) => this.resultPath(u.key));
    const todo: number[] = [];
    for (let i = 0; i < units.length; i++) {
      const recorded = this.store.unitResult(units[i].key);
      if (recorded && existsSync(recorded)) {
        touchUnitResult(recorded);
        this.store.markUnitDone(jobId, i);
        opts.onUnitDone?.(i);
      } else todo.push(i);
    }
    const progress = new RunProgress(units.length - todo.length, units.length, opts.onProgress);
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        // a unit whose reads hit caches never leaves the microtask queue: yield so that HTTP
        // requests (status polls, cancels) are served between units
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (opts.signal.aborted) throw new CancelledError();
        if (next >= todo.length) break; // another worker took the last unit meanwhile
        const i = todo[next++];
        const unit = units[i];
        const out = paths[i];
        const other = this.executing.get(unit.key);
        // another job's run of it (in flight, or finished since this run listed its units): taken
        // once its output is written; if that run fails or is cancelled, this job computes the unit
        // itself
        const written = other ? await untilSettledOrAborted(other, opts.signal) : this.store.unitResult(unit.key) === out;
        if (opts.signal.aborted) throw new CancelledError();
        if (!written || !existsSync(out)) {
          const mine = this.executeOnce(unit, out, opts.signal, (f) => progress.partial(i, f));
          try {
            await mine;
          } finally {
            progress.leave(i);
          }
        }
        this.store.markUnitDone(jobId, i);
        progress.finished(i);
        opts.onUnitDone?.(i);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? this.concurrency, todo.length)) }, worker));
    if (opts.signal.aborted) throw new CancelledError();
    return paths;
  }

  /** Runs a unit and records its output, listed in `executing` until it settles. */
  private executeOnce(unit: WorkUnit<S>, out: string, signal: AbortSignal, partial: (fraction: number) => void): Promise<void> {
    const run = (async () => {
      await this.execute(unit, out, signal, partial);
      if (!existsSync(out)) throw new Error(`work unit ${unit.key} finished without writing its output`);
      // recorded only after the file exists: a crash between the two just recomputes this unit
      this.store.recordUnitResult(unit.key, out);
    })();
    const settled = run.then(() => true, () => false);
    this.executing.set(unit.key, settled);
    void settled.then(() => { if (this.executing.get(unit.key) === settled) this.executing.delete(unit.key); });
    return run;
  }

  /** Drops every cached unit result whose key starts with `prefix` (e.g. all units of a raster). */
  forgetPrefix(prefix: string): number {
    return forgetStoredResults(this.store, prefix);
  }

  /** Drops a cached unit result (e.g. its raster was replaced). */
  forget(key: string): void {
    const path = this.store.unitResult(key);
    this.store.forgetUnitResult(key);
    if (path) rmSync(path, { force: true });
  }
}
