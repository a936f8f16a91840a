/**
 * Tree detection on worker threads, one per core, shared by every job in the process. A job's
 * trees units each detect one CHM tile; run on the main thread they kept one core busy and left the
 * other idle for the whole trees stage (bench/region). The pool is started on first use and its
 * threads do not keep the process alive while idle.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { InvalidInputError } from '../errors.ts';
import type { ChmWindow } from './detect.ts';
import type { TreeOptionsSpec } from './service.ts';
import type { CrownPolygon, Tree } from './types.ts';
import type { DetectionReply, DetectionRequest } from './detect.worker.ts';

const bootstrap = fileURLToPath(new URL('../workers/bootstrap.mjs', import.meta.url));
const entry = new URL('./detect.worker.ts', import.meta.url).href;

export interface DetectedTrees {
  trees: Tree[];
  crowns: Array<CrownPolygon | null>;
}

interface Pending {
  resolve: (r: DetectedTrees) => void;
  reject: (e: Error) => void;
}

class DetectionThread {
  private nextId = 1;
  readonly pending = new Map<number, Pending>();
  private failure: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (msg: DetectionReply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if ('error' in msg) p.reject(msg.error.name === 'InvalidInputError' ? new InvalidInputError(msg.error.message) : Object.assign(new Error(msg.error.message), { name: msg.error.name }));
      else p.resolve({ trees: msg.trees, crowns: msg.crowns });
      if (this.pending.size === 0) worker.unref();
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`tree detection worker exited (code ${code})`)));
    // idle until asked: unref after the listeners are on (adding a 'message' listener refs the port again)
    worker.unref();
  }

  static start(): Promise<DetectionThread> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(bootstrap, { workerData: { entry } });
      worker.once('error', reject);
      worker.once('message', (msg: { ready?: boolean }) => {
        worker.off('error', reject);
        if (!msg.ready) return reject(new Error('tree detection worker failed to start'));
        resolve(new DetectionThread(worker));
      });
    });
  }

  get alive(): boolean {
    return this.failure === null;
  }

  detect(window: ChmWindow, options: TreeOptionsSpec): Promise<DetectedTrees> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    // hand over the heights: a view into a larger buffer would be cloned whole, so copy it out first
    const whole = window.chm.byteOffset === 0 && window.chm.byteLength === window.chm.buffer.byteLength && !(window.chm.buffer instanceof SharedArrayBuffer);
    const chm = whole ? window.chm : window.chm.slice();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      const req: DetectionRequest = { id, window: { ...window, chm }, options };
      this.worker.postMessage(req, [chm.buffer as ArrayBuffer]);
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    if (this.failure) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    // held while it winds down, or the event loop could end with this wait still pending
    this.worker.ref();
    this.worker.postMessage({ close: true });
    await exited;
  }
}

export class DetectionPool {
  /** One slot per thread: its (possibly starting) thread and the detections it has in hand. */
  private readonly slots: Array<{ thread: Promise<DetectionThread> | null; busy: number }>;

  constructor(readonly size = availableParallelism()) {
    this.slots = Array.from({ length: Math.max(1, size) }, () => ({ thread: null, busy: 0 }));
  }

  /** Trees and crowns of a CHM window (delineateWindow on a worker), with options as JSON-able data. */
  async detect(window: ChmWindow, options: TreeOptionsSpec): Promise<DetectedTrees> {
    // the least busy slot, chosen before any await so concurrent calls spread out
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    try {
      const current = (slot.thread ??= DetectionThread.start());
      let thread = await current.catch(() => null);
      if (!thread?.alive) {
        // a thread that died (or never started) is replaced once, by whichever call sees it first
        if (slot.thread === current) slot.thread = DetectionThread.start();
        thread = await slot.thread!;
      }
      return await thread.detect(window, options);
    } finally {
      slot.busy--;
    }
  }

  /** Starts the threads ahead of the first detection (they load their modules meanwhile); resolves once they are up. */
  async warm(): Promise<void> {
    const starting = this.slots.map((s) => (s.thread ??= DetectionThread.start()));
    // a failed start is retried by the next detection
    await Promise.all(starting.map((t) => t.catch(() => undefined)));
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
