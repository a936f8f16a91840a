/** Worker entry: generates one scene off the main thread, posting progress and the summary. */
import { parentPort, workerData } from 'node:worker_threads';
import { generateScene, type SceneOptions } from './generate.ts';

const opts = workerData.opts as Omit<SceneOptions, 'onProgress'>;
try {
  const summary = await generateScene({ ...opts, onProgress: (done, total) => parentPort!.postMessage({ progress: [done, total] }) });
  parentPort!.postMessage({ summary });
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  parentPort!.postMessage({ error: { name: e.name, message: e.message } });
}
