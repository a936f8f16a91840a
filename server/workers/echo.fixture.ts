/** A worker for channel.test.ts: echoes, fails on request, ends its thread, tells its priority, or keeps its core busy. */
import { getPriority } from 'node:os';
import { serveRequests } from './serve.ts';
import { ownTaskId } from './thread.priority.ts';

serveRequests<{ value: number; fail?: boolean; exit?: boolean; priority?: boolean; spinMs?: number }, { doubled: number; nice?: number }>({
  ready: new Promise((resolve) => setTimeout(resolve, 20)),
  handle(req) {
    if (req.exit) process.exit(3);
    if (req.spinMs) for (const end = performance.now() + req.spinMs; performance.now() < end;);
    if (req.fail) throw new RangeError(`no ${req.value}`);
    // this thread's own nice value, not the process's
    if (req.priority) return { result: { doubled: 2 * req.value, nice: getPriority(ownTaskId()!) } };
    return { result: { doubled: 2 * req.value } };
  },
});
