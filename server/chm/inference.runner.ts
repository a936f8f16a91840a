/**
 * Runs a model off the main thread: one worker per model, holding the model's one session,
 * kept for the life of the process and shared by every CHM computation.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { LoadedManifest } from '../model/manifest.ts';
import { DomainError, InvalidInputError, LimitExceededError, NotFoundError } from '../errors.ts';
import type { InferenceReply, InferenceRequest } from './inference.worker.ts';

export interface InferenceRunner {
  readonly manifest: LoadedManifest;
  /** NCHW normalised input (transferred: the caller must not reuse it) -> batch x height x width metres. */
  run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array>;
  /** Milliseconds the model itself spent computing, summed over runs. */
  readonly computeMs: number;
}

const bootstrap = fileURLToPath(new URL('./worker.bootstrap.mjs', import.meta.url));
const entry = new URL('./inference.worker.ts', import.meta.url).href;
const runners = new Map<string, Promise<WorkerRunner>>();

/** The shared runner for a model (its worker starts on first use). */
export function getInferenceRunner(manifest: LoadedManifest): Promise<InferenceRunner> {
  let p = runners.get(manifest.onnxPath);
  if (!p) {
    p = WorkerRunner.start(manifest);
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

class WorkerRunner implements InferenceRunner {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: Float32Array) => void; reject: (e: Error) => void }>();
  computeMs = 0;

  private constructor(readonly manifest: LoadedManifest, private readonly worker: Worker) {
    worker.on('message', (msg: InferenceReply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if ('error' in msg) p.reject(toError(msg.error));
      else {
        this.computeMs += msg.ms;
        p.resolve(msg.output);
      }
      if (this.pending.size === 0) worker.unref();
    });
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', (code) => {
      runners.delete(manifest.onnxPath);
      this.failAll(new Error(`inference worker for model '${manifest.name}' exited (code ${code})`));
    });
  }

  static start(manifest: LoadedManifest): Promise<WorkerRunner> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(bootstrap, { workerData: { entry, modelDir: manifest.dir } });
      const onReady = (msg: { ready?: boolean; error?: { name: string; message: string } }) => {
        if (msg.ready === undefined) return;
        worker.off('message', onReady);
        worker.off('error', reject);
        if (msg.ready) {
          worker.unref();
          resolve(new WorkerRunner(manifest, worker));
        } else {
          void worker.terminate();
          reject(toError(msg.error ?? { name: 'Error', message: 'model failed to load' }));
        }
      };
      worker.on('message', onReady);
      worker.once('error', reject);
    });
  }

  run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      const req: InferenceRequest = { id, input, batch, height, width };
      this.worker.postMessage(req, [input.buffer as ArrayBuffer]);
    });
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Lets queued runs finish, then ends the worker (terminating it mid-run would abort the process). */
  async close(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref();
    this.worker.postMessage({ close: true });
    const timer = setTimeout(() => void this.worker.terminate(), 120_000);
    await exited;
    clearTimeout(timer);
  }
}
