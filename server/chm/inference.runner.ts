/**
 * Runs a model off the main thread, kept for the life of the process and shared by every CHM
 * computation. A small model runs as one single-threaded session per core, each on its own worker,
 * batches going to the least busy: onnxruntime's threads within one session meet at a barrier after
 * every operator, so when the main thread (reading, blending, writing) takes a core, the whole
 * session waits for its slowest thread; independent sessions just share the cores. A large model
 * (weights over LARGE_MODEL_BYTES) runs as one session using every core, its weights held once.
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { LoadedManifest } from '../model/manifest.ts';
import { DomainError, InvalidInputError, LimitExceededError, NotFoundError } from '../errors.ts';
import type { InferenceReply, InferenceRequest } from './inference.worker.ts';

export interface InferenceRunner {
  readonly manifest: LoadedManifest;
  /** NCHW normalised input (transferred: the caller must not reuse it) -> batch x height x width metres. */
  run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array>;
  /** Milliseconds the model itself spent computing, summed over runs (and over parallel sessions). */
  readonly computeMs: number;
  /**
   * A buffer of `length` values for the next run's input, in shared memory, reused once its run is
   * over. Its contents are stale; the caller overwrites them.
   */
  inputBuffer?(length: number): Float32Array;
}

/**
 * Input buffers in shared memory, reused batch after batch. A CHM run sends hundreds of MB of
 * batches to the model: fresh or transferred ArrayBuffers each count as new external memory, and V8
 * answered with a full collection every few hundred ms (bench/inference, forestmap-vit). A shared
 * buffer is only referenced by the message; the worker copies it into its own tensor memory
 * (onnxruntime-node refuses views of shared memory).
 */
class SharedInputs {
  private readonly spare: Float32Array[] = [];
  constructor(private readonly max = 32) {}

  take(length: number): Float32Array {
    const i = this.spare.findIndex((b) => b.length === length);
    return i >= 0 ? this.spare.splice(i, 1)[0] : new Float32Array(new SharedArrayBuffer(length * 4));
  }

  give(b: Float32Array): void {
    if (this.spare.length >= this.max) this.spare.shift();
    this.spare.push(b);
  }
}

/** Above this ONNX size (weights plus external data) one session uses every core. */
export const LARGE_MODEL_BYTES = 256 * 1024 * 1024;

/** How a model's runner is laid out: sessions and onnxruntime threads each. FORESTMAP_INFERENCE_SESSIONS overrides the count. */
export function runnerLayout(manifest: LoadedManifest, cores = availableParallelism(), env: NodeJS.ProcessEnv = process.env): { sessions: number; threads: number } {
  const forced = Number(env.FORESTMAP_INFERENCE_SESSIONS);
  if (Number.isInteger(forced) && forced >= 1 && forced <= cores) return { sessions: forced, threads: Math.max(1, Math.floor(cores / forced)) };
  let bytes = 0;
  for (const f of [manifest.onnxPath, manifest.onnx.externalData ? `${manifest.dir}/${manifest.onnx.externalData}` : null]) {
    try {
      if (f) bytes += statSync(f).size;
    } catch {
      // a missing file fails when the session opens, with its own message
    }
  }
  return bytes > LARGE_MODEL_BYTES || cores < 2 ? { sessions: 1, threads: cores } : { sessions: cores, threads: 1 };
}

const bootstrap = fileURLToPath(new URL('../workers/bootstrap.mjs', import.meta.url));
const entry = new URL('./inference.worker.ts', import.meta.url).href;
const runners = new Map<string, Promise<InferenceRunner & { close(): Promise<void> }>>();

/** The shared runner for a model (its workers start on first use). */
export function getInferenceRunner(manifest: LoadedManifest): Promise<InferenceRunner> {
  let p = runners.get(manifest.onnxPath);
  if (!p) {
    const { sessions, threads } = runnerLayout(manifest);
    p = sessions === 1 ? WorkerRunner.start(manifest, threads) : PooledRunner.start(manifest, sessions, threads);
    runners.set(manifest.onnxPath, p);
    p.catch(() => runners.delete(manifest.onnxPath));
  }
  return p;
}

/** Stops every model worker (tests, shutdown). */
export async function releaseInferenceRunners(): Promise<void> {
  const all = [...runners.values()];
  runners.clear();
  await Promise.all(all.map(async (p) => (await p.catch(() => null))?.close()));
}

const errorKinds: Record<string, new (m: string) => DomainError> = {
  InvalidInputError, LimitExceededError, NotFoundError,
};

function toError(e: { name: string; message: string }): Error {
  const Kind = errorKinds[e.name];
  return Kind ? new Kind(e.message) : Object.assign(new Error(e.message), { name: e.name });
}

/** Several single-session workers; each run goes to the one with the fewest runs pending. */
class PooledRunner implements InferenceRunner {
  private constructor(readonly manifest: LoadedManifest, private readonly workers: WorkerRunner[], private readonly spare: SharedInputs) {}

  static async start(manifest: LoadedManifest, sessions: number, threads: number): Promise<PooledRunner> {
    const spare = new SharedInputs();
    const started = await Promise.allSettled(Array.from({ length: sessions }, () => WorkerRunner.start(manifest, threads, spare)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
      throw failed.reason;
    }
    return new PooledRunner(manifest, started.map((r) => (r as PromiseFulfilledResult<WorkerRunner>).value), spare);
  }

  inputBuffer(length: number): Float32Array {
    return this.spare.take(length);
  }

  get computeMs(): number {
    return this.workers.reduce((s, w) => s + w.computeMs, 0);
  }

  run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array> {
    // a worker that died fails its own runs; the others carry on (the next computation gets a new pool)
    const live = this.workers.filter((w) => w.alive);
    let best = live[0] ?? this.workers[0];
    for (const w of live) if (w.pendingRuns < best.pendingRuns) best = w;
    return best.run(input, batch, height, width);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

class WorkerRunner implements InferenceRunner {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: Float32Array) => void; reject: (e: Error) => void; shared: Float32Array | null }>();
  computeMs = 0;

  private constructor(readonly manifest: LoadedManifest, private readonly worker: Worker, private readonly spare: SharedInputs) {
    worker.on('message', (msg: InferenceReply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      // the worker has copied it (or failed): free for the next batch
      if (p.shared) this.spare.give(p.shared);
      if ('error' in msg) p.reject(toError(msg.error));
      else {
        this.computeMs += msg.ms;
        p.resolve(msg.output);
      }
      if (this.pending.size === 0) worker.unref();
    });
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', (code) => {
      this.exited = new Error(`inference worker for model '${manifest.name}' exited (code ${code})`);
      runners.delete(manifest.onnxPath);
      this.failAll(this.exited);
    });
    // idle until asked: unref after the listeners are on (adding a 'message' listener refs the port again)
    worker.unref();
  }

  /** Set once the worker has ended: later runs fail at once instead of waiting forever. */
  private exited: Error | null = null;

  get alive(): boolean {
    return this.exited === null;
  }

  get pendingRuns(): number {
    return this.pending.size;
  }

  static start(manifest: LoadedManifest, threads: number, spare = new SharedInputs()): Promise<WorkerRunner> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(bootstrap, { workerData: { entry, modelDir: manifest.dir, threads } });
      const onReady = (msg: { ready?: boolean; error?: { name: string; message: string } }) => {
        if (msg.ready === undefined) return;
        worker.off('message', onReady);
        worker.off('error', reject);
        if (msg.ready) {
          resolve(new WorkerRunner(manifest, worker, spare));
        } else {
          void worker.terminate();
          reject(toError(msg.error ?? { name: 'Error', message: 'model failed to load' }));
        }
      };
      worker.on('message', onReady);
      worker.once('error', reject);
    });
  }

  inputBuffer(length: number): Float32Array {
    return this.spare.take(length);
  }

  run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const shared = input.buffer instanceof SharedArrayBuffer;
      this.pending.set(id, { resolve, reject, shared: shared ? input : null });
      this.worker.ref();
      const req: InferenceRequest = { id, input, batch, height, width };
      this.worker.postMessage(req, shared ? [] : [input.buffer as ArrayBuffer]);
    });
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Lets queued runs finish, then ends the worker (terminating it mid-run would abort the process). */
  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref();
    this.worker.postMessage({ close: true });
    const timer = setTimeout(() => void this.worker.terminate(), 120_000);
    await exited;
    clearTimeout(timer);
  }
}
