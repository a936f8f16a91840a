/**
 * The model session on its own thread. onnxruntime-node's run() is synchronous on the calling
 * thread, so running it here is what lets the engine read, normalise, blend and write on the main
 * thread while the model computes. Requests are served one at a time, in arrival order.
 */
import { workerData } from 'node:worker_threads';
import { loadManifest } from '../model/manifest.ts';
import { getModelSession } from '../model/session.ts';
import { serveRequests } from '../workers/serve.ts';

export interface InferenceRequest {
  /** The model's input as values, or (below) as bytes this thread normalises. */
  input?: Float32Array;
  /** Byte imagery, batch x 3 planes, and its bands' tables (runner.ts ByteInput). */
  bytes?: Uint8Array;
  table?: Float32Array;
  batch: number;
  height: number;
  width: number;
  /** Shared memory of batch x height x width values the output is written into. */
  output: Float32Array;
}
export interface InferenceResult {
  /** Milliseconds the model computed. */
  ms: number;
}

const sessionPromise = loadManifest(workerData.modelDir as string).then((m) => getModelSession(m, workerData.threads as number | undefined));
/** Tensor memory for inputs that arrive in shared memory (onnxruntime-node takes no shared views), reused run after run. */
let own = new Float32Array(0);

function tensorInput(req: InferenceRequest): Float32Array {
  const { input, bytes, table } = req;
  if (bytes && table) {
    if (own.length !== bytes.length) own = new Float32Array(bytes.length);
    lookupPlanes(own, bytes, table, req.height * req.width);
    return own;
  }
  if (!input) throw new Error('internal: an inference request with no input');
  if (!(input.buffer instanceof SharedArrayBuffer)) return input;
  if (own.length !== input.length) own = new Float32Array(input.length);
  own.set(input);
  return own;
}

/**
 * Planes of bytes to values through their band's table (plane k is band k % 3). Here rather than
 * on the main thread: the lookup writes into the memory the model reads next, in place of the
 * copy a float input needed, and the main thread, which shares the cores, writes a quarter of the bytes.
 */
function lookupPlanes(out: Float32Array, bytes: Uint8Array, table: Float32Array, plane: number): void {
  for (let p = 0, base = 0; base < bytes.length; p++, base += plane) {
    const t = (p % 3) * 256;
    for (let i = base, end = base + plane; i < end; i++) out[i] = table[t + bytes[i]];
  }
}

serveRequests<InferenceRequest, InferenceResult>({
  ready: sessionPromise,
  async handle(req) {
    const session = await sessionPromise;
    const t0 = performance.now();
    const output = await session.run(tensorInput(req), req.batch, req.height, req.width);
    const ms = performance.now() - t0;
    if (output.length !== req.output.length) throw new Error(`internal: the model gave ${output.length} values for an output of ${req.output.length}`);
    req.output.set(output);
    return { result: { ms } };
  },
  // finish queued runs, release the session, then let the thread end: terminating a thread
  // while onnxruntime computes aborts the whole process
  async close() {
    await (await sessionPromise.catch(() => null))?.release();
  },
});
