/**
 * What a region job's CHM block costs besides the model (issue #8's overhead): the same
 * `streamChmBlock` a 'chm' work unit runs (read and decode the imagery, normalise, blend, crop,
 * write the block's rows to a file) with a runner that answers every batch at once, so the CPU
 * measured is the pipeline's own work and nothing else, on an idle core. Beside it, in the same
 * run, the model's CPU per tile in pure inference (the reference bench/region uses).
 *
 *   npx tsx bench/chm.block.cost.ts [--side 4000] [--blocks 4] [--model NAME] [--scene DIR]
 *
 * Blocks of side x side model pixels on the diagonal of a generated scene (or --scene DIR's
 * image.tif, at least blocks x (side + 256) + 512 px a side), so that none reads imagery another
 * decoded, after one small warm-up block in the far corner.
 */
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { openRaster } from '../server/raster/source.ts';
import { resolveModel } from '../server/model/registry.ts';
import { streamChmBlock } from '../server/chm/block.ts';
import { defaultBatch } from '../server/chm/engine.ts';
import { getInferenceRunner, releaseInferenceRunners, type InferenceRunner } from '../server/chm/inference.runner.ts';
import { generateScene } from '../server/scene/generate.ts';
import { timeEngineRunner } from './pure.rate.ts';

const { values } = parseArgs({
  options: {
    side: { type: 'string', default: '4000' },
    blocks: { type: 'string', default: '4' },
    model: { type: 'string' },
    scene: { type: 'string' },
  },
});
const side = Number(values.side), blocks = Number(values.blocks);
if (!(Number.isInteger(side) && side >= 256 && side <= 16384) || !(Number.isInteger(blocks) && blocks >= 1 && blocks <= 16)) {
  console.error('bench/chm.block.cost: --side must be an integer in 256..16384 and --blocks in 1..16');
  process.exit(2);
}

const manifest = await resolveModel(values.model);
const work = mkdtempSync(join(tmpdir(), 'fm-bench-block-'));
try {
  // blocks on a diagonal with the model's context between them, then the warm-up block's corner
  const sceneSide = blocks * (side + 256) + 512;
  let imagePath = values.scene ? join(values.scene, 'image.tif') : '';
  if (!imagePath || !existsSync(imagePath)) {
    const dir = values.scene ?? join(work, 'scene');
    console.log(`generating a ${sceneSide}x${sceneSide} px scene in ${dir} ...`);
    await generateScene({ out: dir, width: sceneSide, height: sceneSide, gsd: manifest.input.gsd, seed: 1, preset: 'mixed', crowns: false });
    imagePath = join(dir, 'image.tif');
  }
  const source = await openRaster(imagePath);
  if (source.grid.width < sceneSide || source.grid.height < sceneSide) throw new Error(`${imagePath} is ${source.grid.width}x${source.grid.height}: ${sceneSide}x${sceneSide} needed for ${blocks} blocks of ${side}`);

  // the model's output shape without the model: a prediction per tile, answered at once
  const T = manifest.tiling.tileSize;
  let tiles = 0;
  const answer = new Float32Array(64 * T * T).map((_, i) => 5 + (i % 97) / 10);
  const instant: InferenceRunner = {
    manifest, computeMs: 0,
    // a fresh array per batch, as a worker's transferred output is
    run: async (_input, batch) => { tiles += batch; return answer.slice(0, batch * T * T); },
  };
  let gcCount = 0, gcMs = 0;
  new PerformanceObserver((list) => { for (const e of list.getEntries()) { gcCount++; gcMs += e.duration; } }).observe({ entryTypes: ['gc'] });
  const block = async (x: number, y: number, s: number) => {
    const fd = openSync(join(work, 'block.bin'), 'w');
    let pos = 0;
    try {
      await streamChmBlock({ x, y, width: s, height: s }, { source, manifest, runner: instant }, (_y, rows) => { pos += writeSync(fd, rows, 0, rows.byteLength, pos); });
    } finally {
      closeSync(fd);
    }
  };
  await block(sceneSide - 448, sceneSide - 448, 384);
  console.log(`bench/chm.block.cost: model ${manifest.name} (${T} px tiles); ${blocks} blocks of ${side}x${side} px, no model`);
  let allTiles = 0, allCpu = 0;
  for (let k = 0; k < blocks; k++) {
    tiles = 0; gcCount = 0; gcMs = 0;
    const t0 = performance.now(), c0 = process.cpuUsage();
    await block(k * (side + 256) + 128, k * (side + 256) + 128, side);
    const c = process.cpuUsage(c0), cpu = (c.user + c.system) / 1e3;
    allTiles += tiles; allCpu += cpu;
    console.log(`  block ${k + 1}: ${tiles} tiles, wall ${((performance.now() - t0) / 1000).toFixed(2)} s, CPU ${(cpu / 1000).toFixed(2)} s = ${(cpu / tiles).toFixed(3)} ms per tile; ${gcCount} collections, ${gcMs.toFixed(0)} ms`);
  }
  const perTile = allCpu / allTiles;

  const runner = await getInferenceRunner(manifest);
  await timeEngineRunner(runner, { batch: defaultBatch(manifest), tiles: 96, minSeconds: 1 }); // warms the sessions up
  const pure = await timeEngineRunner(runner, { batch: defaultBatch(manifest), tiles: 96, minSeconds: 3 });
  const modelPerTile = (pure.cpuSeconds * 1000) / pure.tiles;
  console.log(`the block's own work: ${perTile.toFixed(3)} ms CPU per model tile; the model in pure inference: ${modelPerTile.toFixed(2)} ms CPU per tile (${(pure.tiles / pure.seconds).toFixed(0)} tiles/s)`);
  console.log(`=> a CHM block's work besides the model is ${((perTile / modelPerTile) * 100).toFixed(1)}% of the model's CPU (before any slowdown from sharing the cores)`);
} finally {
  await releaseInferenceRunners();
  rmSync(work, { recursive: true, force: true });
}
