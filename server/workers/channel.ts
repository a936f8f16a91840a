/**
 * Requests to a worker thread, each answered by id: the plumbing the inference runners and the
 * tree detection pool share. The thread is held (ref'd) only while requests are out, so idle
 * workers never keep the process alive; a thread that dies fails its pending requests and every
 * later one at once.
 *
 * Protocol: the worker first posts `{ ready: true }` (or `{ ready: false, error }`), then answers
 * each `{ id, ...request }` with `{ id, ...result }` or `{ id, error }`; `{ close: true }` asks it to
 * finish what it has and end (server/workers/serve.ts is the worker's side).
 */
import { Worker, type Transferable } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

export interface WorkerError {
  name: string;
  message: string;
}

export type WorkerReply<R> = ({ id: number } & R) | { id: number; error: WorkerError };

// Worker threads do not inherit tsx's loader: this bootstrap registers it, then imports `entry`.
const bootstrap = fileURLToPath(new URL('./bootstrap.mjs', import.meta.url));

export interface ChannelOptions {
  /** What the thread is, for messages ("inference worker for model 'x'"). */
  what: string;
  /** Rebuilds the worker's errors as the caller's error classes. */
  toError?: (e: WorkerError) => Error;
  /** Called once when the thread ends (after its pending requests have failed). */
  onExit?: () => void;
  /** A thread that has not ended this long after `close()` is terminated (default 120 s). */
  closeTimeoutMs?: number;
  /**
   * How much lower than the process the thread's scheduling priority is (nice levels, Linux; a
   * no-op elsewhere): bulk work that must not hold up the main thread, whose work is on the
   * critical path (see thread.priority.ts).
   */
  lowerPriority?: number;
}

const plainError = (e: WorkerError) => Object.assign(new Error(e.message), { name: e.name });

export class WorkerChannel<Q extends object, R extends object> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: R) => void; reject: (e: Error) => void }>();
  private failure: Error | null = null;
  private readonly toError: (e: WorkerError) => Error;

  /**
   * @param taskId the thread's task id as it reported it when ready (Linux; null elsewhere): names
   * its line in /proc/self/task, for per-thread CPU accounting (thread.cpu.ts)
   */
  private constructor(private readonly worker: Worker, private readonly opts: ChannelOptions, readonly taskId: number | null) {
    this.toError = opts.toError ?? plainError;
    worker.on('message', (msg: WorkerReply<R>) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if ('error' in msg) p.reject(this.toError(msg.error));
      else {
        // the result as the worker gave it, without the channel's request id
        const { id: _id, ...result } = msg;
        p.resolve(result as R);
      }
      if (this.pending.size === 0) worker.unref();
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => {
      this.fail(new Error(`${opts.what} exited (code ${code})`));
      opts.onExit?.();
    });
    // idle until asked: unref after the listeners are on (adding a 'message' listener refs the port again)
    worker.unref();
  }

  /** Starts `entry` (a module URL) on a new thread with `data` as its workerData, once it says it is ready. */
  static start<Q extends object, R extends object>(entry: string, data: Record<string, unknown>, opts: ChannelOptions): Promise<WorkerChannel<Q, R>> {
    const toError = opts.toError ?? plainError;
    return new Promise((resolve, reject) => {
      const worker = new Worker(bootstrap, { workerData: { ...data, entry, lowerPriority: opts.lowerPriority ?? 0 } });
      const onReady = (msg: { ready?: boolean; taskId?: number | null; error?: WorkerError }) => {
        if (msg.ready === undefined) return;
        worker.off('message', onReady);
        worker.off('error', reject);
        if (msg.ready) resolve(new WorkerChannel<Q, R>(worker, opts, msg.taskId ?? null));
        else {
          void worker.terminate();
          reject(toError(msg.error ?? { name: 'Error', message: `${opts.what} failed to start` }));
        }
      };
      worker.on('message', onReady);
      worker.once('error', reject);
    });
  }

  get alive(): boolean {
    return this.failure === null;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  request(body: Q, transfer: readonly Transferable[] = []): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...body, id }, transfer);
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Lets queued requests finish, then ends the thread (terminating one mid-computation can abort the process). */
  async close(): Promise<void> {
    if (this.failure) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    // held while it winds down, or the event loop could end with this wait still pending
    this.worker.ref();
    this.worker.postMessage({ close: true });
    const timer = setTimeout(() => void this.worker.terminate(), this.opts.closeTimeoutMs ?? 120_000);
    await exited;
    clearTimeout(timer);
  }
}
