/**
 * onnxruntime-node throughput of a model session (default: the hrch-mini fixture, 256 px tiles).
 * Usage: npx tsx bench/model.session.ts [model name|dir] [batch=4] [rounds=5]
 * Prints ms per batch and tiles/s; the input is seeded noise (values don't change the cost).
 */
import { availableParallelism } from 'node:os';
import { resolveModel } from '../server/model/registry.ts';
import { getModelSession, releaseAllSessions } from '../server/model/session.ts';

const [name = 'hrch-mini', batchArg = '4', roundsArg = '5'] = process.argv.slice(2);
const batch = Number(batchArg);
const rounds = Number(roundsArg);
const manifest = await resolveModel(name);
const t0 = performance.now();
const session = await getModelSession(manifest);
const openMs = performance.now() - t0;
const T = manifest.input.tileSize;
let seed = 1;
const input = Float32Array.from({ length: batch * 3 * T * T }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 4 - 2);
await session.run(input, batch, T, T); // warm-up
const times: number[] = [];
for (let r = 0; r < rounds; r++) {
  const s = performance.now();
  await session.run(input, batch, T, T);
  times.push(performance.now() - s);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(`model ${manifest.name} (${manifest.architecture}), ${availableParallelism()} threads, session open ${openMs.toFixed(0)} ms`);
console.log(`batch ${batch} x ${T}x${T}: median ${median.toFixed(1)} ms/batch, ${(median / batch).toFixed(1)} ms/tile, ${((1000 * batch) / median).toFixed(1)} tiles/s (min ${times[0].toFixed(1)}, max ${times[times.length - 1].toFixed(1)} ms; ${rounds} rounds)`);
await releaseAllSessions();
