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
import { WorkerChannel, type WorkerError } from '../workers/channel.ts';
import type { LoadedManifest } from '../model/manifest.ts';
import { DomainError, InvalidInputError, LimitExceededError, NotFoundError } from '../errors.ts';
import type { InferenceRequest, InferenceResult } from './inference.worker.ts';

export interface InferenceRunner {
  readonly manifest: LoadedManifest;
  /**
   * NCHW normalised input (transferred: the caller must not reuse it) -> batch x height x width
   * metres. The output may be shared memory the runner hands out again once given back with
   * releaseOutput.
   */
  run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array>;
  /** Gives a run's output back for reuse, once the caller has read it (optional: an output not given back is just collected). */
  releaseOutput?(output: Float32Array): void;
  /** Milliseconds the model itself spent computing, summed over runs (and over parallel sessions). */
  readonly computeMs: number;
  /**
   * A buffer of `length` values for the next run's input, in shared memory, reused once its run is
   * over. Its contents are stale; the caller overwrites them.
   */
  inputBuffer?(length: number): Float32Array;
  /** Task ids of the threads running the model (Linux; empty elsewhere), for per-thread CPU accounting. */
  threadIds?(): number[];
  /**
   * As run, for byte imagery: each window's bytes (the bands from byteBuffer, given back when the
   * run is over) are normalised by the model's thread through `table` (3 x 256 values, a band's
   * 256 after the other's) straight into the model's input, the values run would have been given.
   * The caller then writes a quarter of the bytes, in one copy per band, and no thread copies the
   * float input again.
   */
  runBytes?(input: ByteInput, batch: number, height: number, width: number): Promise<Float32Array>;
  /** A shared buffer of `length` bytes for runBytes, reused once its run is over. Its contents are stale. */
  byteBuffer?(length: number): Uint8Array;
  /** Gives back a buffer from byteBuffer that was not sent to runBytes after all. */
  releaseByteBuffer?(bytes: Uint8Array): void;
}

/**
 * Byte imagery for runBytes: 3 band planes of height x stride bytes holding the batch's windows
 * side by side (a row of windows as the source holds it), window k's first column at columns[k],
 * and each band's lookup table.
 */
export interface ByteInput {
  bytes: Uint8Array;
  stride: number;
  columns: readonly number[];
  /** 768 values: band c's byte v becomes table[c * 256 + v]. */
  table: Float32Array;
}

/**
 * Model inputs and outputs in shared memory, reused batch after batch. A CHM run sends hundreds of
 * MB of batches to the model and gets a third of that back: fresh or transferred ArrayBuffers each
 * count as new external memory, and V8 answered with a full collection every few hundred ms
 * (bench/inference, forestmap-vit), its marking on V8's own threads, which share the model's cores.
 * A shared buffer is only referenced by the message; the worker copies inputs into its own tensor
 * memory (onnxruntime-node refuses views of shared memory) and its outputs into the one it was given.
 */
class SharedBuffers<T extends Float32Array | Uint8Array = Float32Array> {
  private readonly spare: T[] = [];
  // the engine has at most 16 batches in flight (engine.ts defaultDepth): more spares would only hold memory
  constructor(private readonly make: (length: number) => T = ((length: number) => new Float32Array(new SharedArrayBuffer(length * 4))) as unknown as (length: number) => T, private readonly max = 16) {}

  take(length: number): T {
    const i = this.spare.findIndex((b) => b.length === length);
    return i >= 0 ? this.spare.splice(i, 1)[0] : this.make(length);
  }

  give(b: T): void {
    if (this.spare.length >= this.max) this.spare.shift();
    this.spare.push(b);
  }
}

const sharedBytes = () => new SharedBuffers<Uint8Array>((length) => new Uint8Array(new SharedArrayBuffer(length)));

/** The shared-memory pools a runner hands out and takes back; a pooled runner's workers share one set. */
class BufferPools {
  protected readonly inputs: SharedBuffers;
  protected readonly outputs: SharedBuffers;
  protected readonly bytes: SharedBuffers<Uint8Array>;

  /** With `shared`, the same pools as it (a pool's workers and the pool itself); else new ones. */
  constructor(shared?: BufferPools) {
    this.inputs = shared?.inputs ?? new SharedBuffers();
    this.outputs = shared?.outputs ?? new SharedBuffers();
    this.bytes = shared?.bytes ?? sharedBytes();
  }

  inputBuffer(length: number): Float32Array {
    return this.inputs.take(length);
  }

  byteBuffer(length: number): Uint8Array {
    return this.bytes.take(length);
  }

  releaseByteBuffer(bytes: Uint8Array): void {
    if (bytes.buffer instanceof SharedArrayBuffer) this.bytes.give(bytes);
  }

  releaseOutput(output: Float32Array): void {
    if (output.buffer instanceof SharedArrayBuffer) this.outputs.give(output);
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

function toError(e: WorkerError): Error {
  const Kind = errorKinds[e.name];
  return Kind ? new Kind(e.message) : Object.assign(new Error(e.message), { name: e.name });
}

/** Several single-session workers; each run goes to the one with the fewest runs pending. */
class PooledRunner extends BufferPools implements InferenceRunner {
  private constructor(readonly manifest: LoadedManifest, private readonly workers: WorkerRunner[], pools: BufferPools) {
    super(pools);
  }

  static async start(manifest: LoadedManifest, sessions: number, threads: number): Promise<PooledRunner> {
    const pools = new BufferPools();
    const started = await Promise.allSettled(Array.from({ length: sessions }, () => WorkerRunner.start(manifest, threads, pools)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
      throw failed.reason;
    }
    return new PooledRunner(manifest, started.map((r) => (r as PromiseFulfilledResult<WorkerRunner>).value), pools);
  }

  get computeMs(): number {
    return this.workers.reduce((s, w) => s + w.computeMs, 0);
  }

  threadIds(): number[] {
    return this.workers.flatMap((w) => w.threadIds());
  }

  run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array> {
    return this.leastBusy().run(input, batch, height, width);
  }

  runBytes(input: ByteInput, batch: number, height: number, width: number): Promise<Float32Array> {
    return this.leastBusy().runBytes(input, batch, height, width);
  }

  private leastBusy(): WorkerRunner {
    // a worker that died fails its own runs; the others carry on (the next computation gets a new pool)
    const live = this.workers.filter((w) => w.alive);
    let best = live[0] ?? this.workers[0];
    for (const w of live) if (w.pendingRuns < best.pendingRuns) best = w;
    return best;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

class WorkerRunner extends BufferPools implements InferenceRunner {
  computeMs = 0;

  private constructor(readonly manifest: LoadedManifest, private readonly channel: WorkerChannel<InferenceRequest, InferenceResult>, pools: BufferPools) {
    super(pools);
  }

  static async start(manifest: LoadedManifest, threads: number, pools = new BufferPools()): Promise<WorkerRunner> {
    const channel = await WorkerChannel.start<InferenceRequest, InferenceResult>(entry, { modelDir: manifest.dir, threads }, {
      what: `inference worker for model '${manifest.name}'`,
      toError,
      // a dead worker's runner is dropped: the next computation starts a new one
      onExit: () => runners.delete(manifest.onnxPath),
    });
    return new WorkerRunner(manifest, channel, pools);
  }

  /** False once the worker has ended: its runs fail at once instead of waiting forever. */
  get alive(): boolean {
    return this.channel.alive;
  }

  get pendingRuns(): number {
    return this.channel.pendingCount;
  }

  threadIds(): number[] {
    return this.channel.taskId === null ? [] : [this.channel.taskId];
  }

  runBytes(input: ByteInput, batch: number, height: number, width: number): Promise<Float32Array> {
    const { bytes, stride, columns, table } = input;
    if (bytes.length !== 3 * height * stride || table.length !== 3 * 256 || columns.length !== batch || !columns.every((c) => Number.isInteger(c) && c >= 0 && c + width <= stride)) {
      throw new Error(`internal: ${bytes.length} bytes of rows ${stride} wide, a table of ${table.length} and columns [${columns.join(', ')}] for ${batch} x 3 x ${height} x ${width}`);
    }
    return this.send({ bytes, stride, columns, table }, bytes, this.bytes, batch, height, width);
  }

  run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array> {
    return this.send({ input }, input, this.inputs, batch, height, width);
  }

  /**
   * One run: `body` carries the input, whose buffer `sent` is handed over unless it is shared
   * memory, which goes back to its `pool` once the worker has read it.
   */
  private async send<T extends Float32Array | Uint8Array>(body: Pick<InferenceRequest, 'input' | 'bytes' | 'stride' | 'columns' | 'table'>, sent: T, pool: SharedBuffers<T>, batch: number, height: number, width: number): Promise<Float32Array> {
    const shared = sent.buffer instanceof SharedArrayBuffer;
    const output = this.outputs.take(batch * height * width);
    let filled = false;
    try {
      const r = await this.channel.request({ ...body, batch, height, width, output }, shared ? [] : [sent.buffer as ArrayBuffer]);
      this.computeMs += r.ms;
      filled = true;
      return output;
    } finally {
      // the worker has taken the input into its own memory (or failed): free for the next batch
      if (shared) pool.give(sent);
      if (!filled) this.outputs.give(output);
    }
  }

  /** Lets queued runs finish, then ends the worker (terminating it mid-run would abort the process). */
  close(): Promise<void> {
    return this.channel.close();
  }
}
