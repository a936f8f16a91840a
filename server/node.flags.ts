/**
 * Flags the forestmap process starts with: bin/forestmap.js's shebang, `npm start`, and
 * bench/region's job processes, which must run as the product runs (node.flags.test.ts checks that
 * the first two carry them). `node bin/forestmap.js` from a checkout runs without them: the same
 * results, slower jobs.
 *
 * --initial-old-space-size: the main thread's heap holds about 26 MB that lives as long as the
 * process (modules, the server's state), and V8 set its old generation's limit at about twice
 * that, less than its young generation's capacity above it. So it started a full marking cycle
 * again at almost every chance: 32 mark-compacts on the main thread over four 1 km² jobs, most
 * freeing under 1 MB (--trace-gc, --trace-incremental-marking: "Start (task)", 27 of 50 MB), each
 * marking the whole heap on the job's cores. With 128 MB the four jobs took 4, for about 100 MB
 * more peak RSS. Worker threads share the flag (flags are per process); they collected rarely
 * before and still do.
 *
 * --no-memory-reducer-for-small-heaps: the detection threads work for half a second at the end of
 * a job, then wait through the next job's CHM stage. V8's memory reducer took that wait for an
 * idle isolate and ran three full collections of each detection thread's 8 MB heap, freeing
 * nothing (--trace-gc: "Mark-Compact (reduce) 8.4 -> 8.4 MB", 21 of them over seven warm 1 km²
 * jobs, 160-175 ms of pauses, with their marking on V8's helper threads), beside the model. Large
 * heaps (the main thread's) keep the reducer.
 */
export const NODE_FLAGS = ['--initial-old-space-size=128', '--no-memory-reducer-for-small-heaps'] as const;
