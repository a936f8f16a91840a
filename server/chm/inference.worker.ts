/**
 * The model session on its own thread. onnxruntime-node's run() is synchronous on the calling
 * thread, so running it here is what lets the engine read, normalise, blend and write on the main
 * thread while the model computes. Requests are served one at a time, in arrival order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadManifest } from '../model/manifest.ts';
import { getModelSession } from '../model/session.ts';

export interface InferenceRequest {
  id: number;
  input: Float32Array;
  batch: number;
  height: number;
  width: number;
}
export type InferenceReply =
  | { id: number; output: Float32Array; ms: number }
  | { id: number; error: { name: string; message: string } };

const port = parentPort!;
/** Tensor memory for inputs that arrive in shared memory (onnxruntime-node takes no shared views), reused run after run. */
let own = new Float32Array(0);

function tensorInput(input: Float32Array): Float32Array {
  if (!(input.buffer instanceof SharedArrayBuffer)) return input;
  if (own.length !== input.length) own = new Float32Array(input.length);
  own.set(input);
  return own;
}
const sessionPromise = loadManifest(workerData.modelDir as string).then((m) => getModelSession(m, workerData.threads as number | undefined));
let chain: Promise<void> = Promise.resolve();

port.on('message', (req: InferenceRequest | { close: true }) => {
  if ('close' in req) {
    // finish queued runs, release the session, then let the thread end: terminating a thread
    // while onnxruntime computes aborts the whole process
    chain = chain.then(async () => {
      await (await sessionPromise.catch(() => null))?.release().catch(() => undefined);
      port.close();
    });
    return;
  }
  chain = chain.then(async () => {
    try {
      const session = await sessionPromise;
      const t0 = performance.now();
      const output = await session.run(tensorInput(req.input), req.batch, req.height, req.width);
      const reply: InferenceReply = { id: req.id, output, ms: performance.now() - t0 };
      port.postMessage(reply, [output.buffer as ArrayBuffer]);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      port.postMessage({ id: req.id, error: { name: e.name, message: e.message } } satisfies InferenceReply);
    }
  });
});
sessionPromise.then(
  () => port.postMessage({ ready: true }),
  (err: Error) => port.postMessage({ ready: false, error: { name: err.name, message: err.message } }),
);
