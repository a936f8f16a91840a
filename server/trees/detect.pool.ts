/**
 * Tree detection on worker threads, one per core, shared by every job in the process. A job's
 * trees units each detect one CHM tile; run on the main thread they kept one core busy and left the
 * other idle for the whole trees stage (bench/region). The pool is started on first use and its
 * threads do not keep the process alive while idle.
 */
import { availableParallelism } from 'node:os';
import { InvalidInputError } from '../errors.ts';
import { WorkerChannel, type WorkerError } from '../workers/channel.ts';
import { delineateWindow, resolveTreeOptions, type ChmWindow } from './detect.ts';
import { packTrees, type PackedTrees } from './packed.ts';
import { treeOptionsOf, type TreeOptionsSpec } from './service.ts';
import type { DetectionRequest } from './detect.worker.ts';

/** The trees (and crowns) of a CHM window, packed: what a detection thread computes, also run inline where there is no pool. */
export function detectPacked(window: ChmWindow, options: TreeOptionsSpec): PackedTrees {
  const { trees, crowns } = delineateWindow(window, resolveTreeOptions(treeOptionsOf(options)));
  return packTrees(trees, crowns);
}

const entry = new URL('./detect.worker.ts', import.meta.url).href;
type DetectionThread = WorkerChannel<DetectionRequest, PackedTrees>;

const toError = (e: WorkerError) => (e.name === 'InvalidInputError' ? new InvalidInputError(e.message) : Object.assign(new Error(e.message), { name: e.name }));

/**
 * Nice levels the detection threads run below the process. In a job's trees stage the main thread
 * is the critical path: it reads the tiles these threads detect on and writes the CHM's COG and the
 * GeoJSON, and with one detection thread per core it got about half a core (event loop 98% busy,
 * perf: 0.4 s of CPU over the stage's 0.9 s), so the exports ran 0.15-0.2 s past the last tile of a
 * 1 km² job with one core idle. Five levels (about a third of the weight) let it run when it has
 * work; the threads take whatever it leaves.
 */
export const DETECTION_NICE = 5;

function startThread(): Promise<DetectionThread> {
  return WorkerChannel.start<DetectionRequest, PackedTrees>(entry, {}, { what: 'tree detection worker', toError, lowerPriority: DETECTION_NICE });
}

/** Detects on `thread`, handing over the heights: a view into a larger buffer would be cloned whole, so it is copied out first. */
function detectOn(thread: DetectionThread, window: ChmWindow, options: TreeOptionsSpec): Promise<PackedTrees> {
  const whole = window.chm.byteOffset === 0 && window.chm.byteLength === window.chm.buffer.byteLength && !(window.chm.buffer instanceof SharedArrayBuffer);
  const chm = whole ? window.chm : window.chm.slice();
  return thread.request({ window: { ...window, chm }, options }, [chm.buffer as ArrayBuffer]);
}

export class DetectionPool {
  /** One slot per thread: its (possibly starting) thread and the detections it has in hand. */
  private readonly slots: Array<{ thread: Promise<DetectionThread> | null; busy: number }>;

  constructor(readonly size = availableParallelism()) {
    this.slots = Array.from({ length: Math.max(1, size) }, () => ({ thread: null, busy: 0 }));
  }

  /** Trees and crowns of a CHM window (delineateWindow on a worker), with options as JSON-able data. */
  async detect(window: ChmWindow, options: TreeOptionsSpec): Promise<PackedTrees> {
    // the least busy slot, chosen before any await so concurrent calls spread out
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    try {
      const current = (slot.thread ??= startThread());
      let thread = await current.catch(() => null);
      if (!thread?.alive) {
        // a thread that died (or never started) is replaced once, by whichever call sees it first
        if (slot.thread === current) slot.thread = startThread();
        thread = await slot.thread!;
      }
      return await detectOn(thread, window, options);
    } finally {
      slot.busy--;
    }
  }

  /** Starts the threads ahead of the first detection (they load their modules meanwhile); resolves once they are up. */
  async warm(): Promise<void> {
    const starting = this.slots.map((s) => (s.thread ??= startThread()));
    // a failed start is retried by the next detection
    await Promise.all(starting.map((t) => t.catch(() => undefined)));
  }

  /** Task ids of the threads started so far (Linux; empty elsewhere), for per-thread CPU accounting. */
  async threadIds(): Promise<number[]> {
    const threads = await Promise.all(this.slots.map((s) => s.thread?.catch(() => null) ?? null));
    return threads.flatMap((t) => (t?.alive && t.taskId !== null ? [t.taskId] : []));
  }

  async close(): Promise<void> {
    const threads = this.slots.map((s) => s.thread);
    for (const s of this.slots) s.thread = null;
    await Promise.all(threads.map(async (t) => (await t?.catch(() => null))?.close()));
  }
}

let shared: DetectionPool | null = null;

/** The process's detection pool. */
export function detectionPool(): DetectionPool {
  return (shared ??= new DetectionPool());
}

/** Stops the pool's threads (tests, shutdown); the next detection starts new ones. */
export async function releaseDetectionPool(): Promise<void> {
  const p = shared;
  shared = null;
  await p?.close();
}
