/**
 * Does other threads' work slow the model down per tile (issue #8's overhead)? Pure inference
 * through the engine's runner, alone and beside a third thread that either computes in registers
 * (a square-root loop) or streams memory (copying two 64 MB arrays back and forth), in turns.
 *
 *   npx tsx bench/model.contention.ts [--model forestmap-vit] [--rounds 2] [--tiles 256]
 *
 * Prints, for each turn, the wall rate and the model threads' CPU per tile (their own time on a
 * CPU, from /proc). On two cores the third thread takes wall time from the model either way; what
 * this measures is whether the model also does more CPU work per tile. Reference: the model alone
 * in the same run.
 */
import { Worker } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import { resolveModel } from '../server/model/registry.ts';
import { getInferenceRunner, releaseInferenceRunners } from '../server/chm/inference.runner.ts';
import { defaultBatch } from '../server/chm/engine.ts';
import { threadCpuSeconds } from '../server/workers/thread.cpu.ts';
import { timeEngineRunner } from './pure.rate.ts';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'forestmap-vit' }, rounds: { type: 'string', default: '2' }, tiles: { type: 'string', default: '256' } } });
const rounds = Number(values.rounds), tiles = Number(values.tiles);
if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20) || !(Number.isInteger(tiles) && tiles >= 1 && tiles <= 100_000)) {
  console.error('bench/model.contention: --rounds takes 1..20 and --tiles 1..100000');
  process.exit(2);
}
if (!threadCpuSeconds()) {
  console.error('bench/model.contention: needs /proc/self/task (Linux) to read each thread\'s CPU');
  process.exit(2);
}

/** A worker that keeps one core busy until told to stop: in registers, or streaming memory. */
function busyWorker(kind: 'compute' | 'memory'): Worker {
  const work = kind === 'memory'
    ? 'b.set(a); a.set(b);'
    : 'let x = 0; for (let i = 0; i < 2e6; i++) x += Math.sqrt(i); a[0] = x;';
  const length = kind === 'memory' ? 16 * 1024 * 1024 : 1024;
  return new Worker(`
    const { parentPort } = require('node:worker_threads');
    let stop = false;
    parentPort.on('message', () => { stop = true; });
    const a = new Float32Array(${length}), b = new Float32Array(a.length);
    // in slices, so the stop message is seen
    function slice() { for (let r = 0; r < 20; r++) { ${work} } if (!stop) setImmediate(slice); }
    slice();`, { eval: true });
}

const manifest = await resolveModel(values.model);
const runner = await getInferenceRunner(manifest);
const batch = defaultBatch(manifest);
const ids = runner.threadIds?.() ?? [];
if (!ids.length) {
  console.error(`bench/model.contention: model '${manifest.name}' runs on no worker thread whose CPU can be read`);
  process.exit(2);
}
await timeEngineRunner(runner, { batch, tiles: 64, minSeconds: 1 }); // warm-up
console.log(`bench/model.contention: model ${manifest.name}, ${ids.length} model thread(s), batch ${batch}, ${tiles} tiles per turn`);
const perTile: Record<string, number[]> = { alone: [], compute: [], memory: [] };
for (let r = 0; r < rounds; r++) {
  for (const turn of ['alone', 'compute', 'memory'] as const) {
    const busy = turn === 'alone' ? null : busyWorker(turn);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = threadCpuSeconds()!;
    const t = await timeEngineRunner(runner, { batch, tiles, minSeconds: 3 });
    const after = threadCpuSeconds()!;
    await busy?.terminate();
    const cpu = ids.reduce((s, id) => s + (after.get(id) ?? 0) - (before.get(id) ?? 0), 0);
    perTile[turn].push((cpu / t.tiles) * 1000);
    console.log(`  ${turn.padEnd(8)} ${(t.tiles / t.seconds).toFixed(0).padStart(4)} tiles/s wall; model threads ${perTile[turn].at(-1)!.toFixed(2)} ms CPU per tile`);
  }
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const alone = mean(perTile.alone);
for (const turn of ['compute', 'memory'] as const) {
  console.log(`beside a ${turn} thread: ${mean(perTile[turn]).toFixed(2)} ms CPU per tile, ${(((mean(perTile[turn]) - alone) / alone) * 100).toFixed(1)}% over the model alone (${alone.toFixed(2)} ms)`);
}
await releaseInferenceRunners();
