/**
 * The worker's side of a WorkerChannel (channel.ts): says it is ready once `ready` settles, then
 * answers requests one at a time, in arrival order, until asked to close.
 */
import { parentPort, type Transferable } from 'node:worker_threads';
import type { WorkerError } from './channel.ts';
import { ownTaskId } from './thread.priority.ts';

export interface Answer<R> {
  result: R;
  /** Buffers of the result to hand over instead of copying. */
  transfer?: Transferable[];
}

export function serveRequests<Q extends object, R extends object>(opts: {
  ready?: Promise<unknown>;
  handle(req: Q): Answer<R> | Promise<Answer<R>>;
  /** Before the thread ends (release what it holds). */
  close?(): Promise<void>;
}): void {
  const port = parentPort!;
  const ready = opts.ready ?? Promise.resolve();
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (msg: (Q & { id: number }) | { close: true }) => {
    if ('close' in msg) {
      chain = chain.then(async () => {
        await opts.close?.().catch(() => undefined);
        port.close();
      });
      return;
    }
    chain = chain.then(async () => {
      try {
        await ready;
        const { result, transfer } = await opts.handle(msg);
        port.postMessage({ ...result, id: msg.id }, transfer ?? []);
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        port.postMessage({ id: msg.id, error: { name: e.name, message: e.message } satisfies WorkerError });
      }
    });
  });
  ready.then(
    // its task id, so the process can tell this thread's CPU time from others' (thread.cpu.ts)
    () => port.postMessage({ ready: true, taskId: ownTaskId() }),
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      port.postMessage({ ready: false, error: { name: e.name, message: e.message } satisfies WorkerError });
    },
  );
}
