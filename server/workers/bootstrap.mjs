// Worker threads do not inherit tsx's loader: register it, then load the TypeScript entry.
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

if (workerData.lowerPriority > 0) lowerThreadPriority(workerData.lowerPriority);
register();
await import(workerData.entry);

/**
 * Raises this thread's nice value by `levels` (Linux: a thread is a task with its own id, which
 * /proc/thread-self names; lowering one's own priority needs no privilege). Elsewhere, or if the
 * system refuses, the thread keeps the process's priority: only scheduling order is at stake.
 */
function lowerThreadPriority(levels) {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return;
    setPriority(tid, Math.min(19, getPriority(tid) + levels));
  } catch {
    // not Linux, or not permitted
  }
}
