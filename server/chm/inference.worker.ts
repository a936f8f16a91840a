/**
 * The model session on its own thread. onnxruntime-node's run() is synchronous on the calling
 * thread, so running it here is what lets the engine read, normalise, blend and write on the main
 * thread while the model computes. Requests are served one at a time, in arrival order.
 */
import { workerData } from 'node:worker_threads';
import { loadManifest } from '../model/manifest.ts';
import { getModelSession } from '../model/session.ts';
import { lookupWindow } from '../model/preprocess.ts';
import { serveRequests } from '../workers/serve.ts';

export interface InferenceRequest {
  /** The model's input as values, or (below) as bytes this thread normalises. */
  input?: Float32Array;
  /** Byte imagery: 3 band planes of height x stride bytes, window k from column columns[k], and the bands' tables (runner.ts ByteInput). */
  bytes?: Uint8Array;
  stride?: number;
  columns?: readonly number[];
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
  const { input, bytes, table, stride, columns } = req;
  if (bytes && table && stride !== undefined && columns) {
    // here rather than on the main thread: the lookup writes into the memory the model reads next,
    // in place of the copy a float input needed, and the main thread, which shares the cores,
    // writes a quarter of the bytes
    const { height, width } = req, n = height * width, plane = height * stride;
    if (own.length !== req.batch * 3 * n) own = new Float32Array(req.batch * 3 * n);
    for (let k = 0; k < req.batch; k++) {
      for (let c = 0; c < 3; c++) lookupWindow(own, (k * 3 + c) * n, bytes, c * plane + columns[k], stride, height, width, table, c * 256);
    }
    return own;
  }
  if (!input) throw new Error('internal: an inference request with no input');
  if (!(input.buffer instanceof SharedArrayBuffer)) return input;
  if (own.length !== input.length) own = new Float32Array(input.length);
  own.set(input);
  return own;
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
