/**
 * Pure inference timing shared by the benches: a model run on seeded input, nothing read,
 * blended or written.
 */
import { defaultDepth } from '../server/chm/engine.ts';
import type { InferenceRunner } from '../server/chm/inference.runner.ts';

/** batch x 3 x size x size model input, seeded (values in [-2, 2)): the same for every bench. */
export function seededInput(batch: number, size: number): Float32Array {
  let seed = 7;
  return Float32Array.from({ length: batch * 3 * size * size }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 4 - 2);
}

export interface PureTiming {
  tiles: number;
  seconds: number;
  cpuSeconds: number;
}

/**
 * Times `run` (one batch of `batch` tiles per call) with up to `inFlight` calls outstanding, for
 * at least `tiles` tiles and at least `minSeconds`. `buffer`: where each call's copy of the input
 * goes (a worker runner owns it until the run is over: the engine's runner hands out its shared
 * input buffers, as the engine uses them). Warm the model up before calling.
 */
export async function timeRuns(run: (input: Float32Array) => Promise<unknown>, input: Float32Array, batch: number, tiles: number, opts: { inFlight?: number; minSeconds?: number; buffer?: (length: number) => Float32Array } = {}): Promise<PureTiming> {
  const inFlight = opts.inFlight ?? 1, minMs = (opts.minSeconds ?? 0) * 1000;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let sent = 0;
  const pending = new Set<Promise<unknown>>();
  const more = () => sent < tiles || performance.now() - t0 < minMs;
  while (more() || pending.size) {
    while (more() && pending.size < inFlight) {
      let x = input;
      if (opts.buffer) {
        x = opts.buffer(input.length);
        x.set(input);
      }
      const p: Promise<unknown> = run(x).finally(() => pending.delete(p));
      pending.add(p);
      sent += batch;
    }
    await Promise.race(pending);
  }
  const cpu = process.cpuUsage(cpu0);
  return { tiles: sent, seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/**
 * Pure inference through a CHM engine runner the way the engine drives it: seeded batches in the
 * runner's shared input buffers, as many in flight as the engine keeps (engine.ts defaultDepth),
 * each output given back to the runner once it has arrived.
 * `run`: the runner's run when a bench has wrapped it (to count the job's tiles, say).
 */
export function timeEngineRunner(runner: InferenceRunner, opts: { batch: number; tiles: number; minSeconds: number; run?: InferenceRunner['run'] }): Promise<PureTiming> {
  const T = runner.manifest.tiling.tileSize;
  const run = opts.run ?? runner.run.bind(runner);
  const input = seededInput(opts.batch, T);
  return timeRuns(async (x) => runner.releaseOutput?.(await run(x, opts.batch, T, T)), input, opts.batch, opts.tiles, {
    inFlight: defaultDepth(input.byteLength), minSeconds: opts.minSeconds, buffer: (n) => runner.inputBuffer?.(n) ?? new Float32Array(n),
  });
}
