/** A worker for channel.test.ts: echoes, fails on request, or ends its thread. */
import { serveRequests } from './serve.ts';

serveRequests<{ value: number; fail?: boolean; exit?: boolean }, { doubled: number }>({
  ready: new Promise((resolve) => setTimeout(resolve, 20)),
  handle(req) {
    if (req.exit) process.exit(3);
    if (req.fail) throw new RangeError(`no ${req.value}`);
    return { result: { doubled: 2 * req.value } };
  },
});
