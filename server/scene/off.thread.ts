/**
 * generateScene in a worker thread: rendering is synchronous CPU work (about a second per strip
 * of a wide scene), which would stall a server's event loop; the demo bootstrap uses this.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { InvalidInputError } from '../errors.ts';
import type { SceneOptions, SceneSummary } from './generate.ts';

// The generic tsx bootstrap the inference workers use: registers the loader, imports `entry`.
const bootstrap = fileURLToPath(new URL('../workers/bootstrap.mjs', import.meta.url));
const entry = new URL('./scene.worker.ts', import.meta.url).href;

export function generateSceneOffThread(opts: SceneOptions): Promise<SceneSummary> {
  const { onProgress, ...plain } = opts;
  return new Promise((resolve, reject) => {
    const worker = new Worker(bootstrap, { workerData: { entry, opts: plain } });
    let settled = false;
    worker.on('message', (msg: { progress?: [number, number]; summary?: SceneSummary; error?: { name: string; message: string } }) => {
      if (msg.progress) onProgress?.(msg.progress[0], msg.progress[1]);
      else if (msg.summary) (settled = true), resolve(msg.summary);
      else if (msg.error) {
        settled = true;
        reject(msg.error.name === 'InvalidInputError' ? new InvalidInputError(msg.error.message) : new Error(msg.error.message));
      }
    });
    worker.on('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.on('exit', (code) => {
      if (!settled) reject(new Error(`scene worker exited (code ${code}) without a result`));
    });
  });
}
