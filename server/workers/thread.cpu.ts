/**
 * CPU time of each of this process's threads (Linux: /proc/self/task). process.cpuUsage() sums
 * every thread: the model's sessions, the detection threads, the main thread and the helpers Node
 * starts on its own (V8's garbage collection and compilation, libuv's pool, which compresses the
 * COG exports). Telling them apart says which one a job's time over pure inference comes from
 * (bench/region). Worker threads report their task ids when ready (serve.ts, channel.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux's fixed user-space clock tick (USER_HZ), the unit of /proc's utime and stime. */
const USER_HZ = 100;

/** CPU seconds of every thread of this process by task id, or null where /proc/self/task is not there. */
export function threadCpuSeconds(): Map<number, number> | null {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  const out = new Map<number, number>();
  for (const tid of tids) {
    const seconds = taskCpuSeconds(tid);
    // a thread that ended between the listing and the read has nothing more to count
    if (seconds !== null) out.set(Number(tid), seconds);
  }
  return out;
}

function taskCpuSeconds(tid: string): number | null {
  try {
    // schedstat's first field is the time on a CPU in nanoseconds: finer than stat's 10 ms ticks
    const ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    if (Number.isFinite(ns)) return ns / 1e9;
  } catch {
    // a kernel without schedstats: the ticks below
  }
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // fields after the command name, which may hold spaces and parentheses: utime and stime are the 12th and 13th
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / USER_HZ;
  } catch {
    return null;
  }
}

/**
 * CPU seconds between two readings, summed over named groups of threads; threads in no group
 * (Node's own helpers, or a thread started and ended between the readings) count as `other`, the
 * main thread (task id = process id) as `main`.
 */
export function threadCpuByGroup(before: Map<number, number>, after: Map<number, number>, groups: Record<string, readonly number[]>): Record<string, number> {
  const owner = new Map<number, string>();
  for (const [name, ids] of Object.entries(groups)) for (const id of ids) owner.set(id, name);
  const sums: Record<string, number> = { main: 0, other: 0 };
  for (const name of Object.keys(groups)) sums[name] = 0;
  for (const [tid, seconds] of after) {
    const group = tid === process.pid ? 'main' : owner.get(tid) ?? 'other';
    sums[group] += Math.max(0, seconds - (before.get(tid) ?? 0));
  }
  return sums;
}
