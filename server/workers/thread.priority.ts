/**
 * A worker thread's own scheduling priority. On Linux a thread is a task with an id of its own,
 * which /proc/thread-self names; os.getPriority/setPriority take that id as they take a pid.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** This thread's task id, or null where there is none to name (not Linux). */
export function ownTaskId(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/**
 * Raises this thread's nice value by `levels` (lowering one's own priority needs no privilege).
 * Elsewhere, or if the system refuses, the thread keeps the process's priority: only scheduling
 * order is at stake.
 */
export function lowerThreadPriority(levels: number): void {
  const tid = ownTaskId();
  if (tid === null) return;
  try {
    setPriority(tid, Math.min(19, getPriority(tid) + levels));
  } catch {
    // not permitted
  }
}
