/**
 * Canopy height inference benchmark (issue #5).
 *
 *   npx tsx bench/inference.ts [--sizes 1024,2048] [--model hrch-mini] [--batch N (default: the manifest's tiling.batch, else 2)] [--no-torch] [--torch-size N]
 *   npx tsx bench/inference.ts --model hrch-large-random --sizes 512,1024 --batch 1
 *
 * `hrch-large-random` is Meta's released SSL-large architecture (ViT-L/16, 24 blocks, DPT head;
 * shapes from ../shared/fixtures/hrch/large_state_dict_keys.tsv) with seeded random weights,
 * built by the port and converted by `forestmap convert` into a cache folder on first use
 * (1.35 GB, about a minute). Its heights mean nothing: it is there so the pipeline is timed on the
 * compute of the model users convert from Meta's checkpoint, not only on the toy hrch-mini.
 *
 * For each size, a generated forest scene (server/scene) at the model's GSD goes through
 * `computeChm` in its own process, printing wall time, tiles/s, model time, peak RSS (should stay
 * flat as the area grows). Then, in the same run:
 *  - pure inference: the same session on seeded input, no reading/blending/writing -> end-to-end
 *    overhead ratio;
 *  - the PyTorch port (models/hrch) run the way Meta's notebook pipeline runs it (bench/inference_torch.py),
 *    on the same raster and weights -> throughput ratio;
 *  - FLOPs per tile (torch.profiler on the port) -> GFLOP/s achieved, beside the measured matmul
 *    peak of this machine (numpy and onnxruntime, float32).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir, cpus } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { seededInput, timeEngineRunner, timeRuns } from './pure.rate.ts';
import { defaultBatch } from '../server/chm/engine.ts';
import { benchModel, FIXTURES, PYTHON } from './large.model.ts';

const here = dirname(fileURLToPath(import.meta.url));
const MIN_PURE_SECONDS = 3;

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1024,2048' },
    model: { type: 'string', default: 'hrch-mini' },
    batch: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
    'torch-size': { type: 'string' },
    child: { type: 'string' },
    out: { type: 'string' },
    pure: { type: 'string' },
    'pure-runner': { type: 'string' },
  },
});


/** One end-to-end CHM computation, in its own process so its peak RSS is its own. */
async function child(image: string, out: string, model: string, batchSize: number) {
  const { resolveModel } = await import('../server/model/registry.ts');
  const { openRaster } = await import('../server/raster/source.ts');
  const { computeChm } = await import('../server/chm/engine.ts');
  const { releaseInferenceRunners } = await import('../server/chm/inference.runner.ts');
  const { getInferenceRunner } = await import('../server/chm/inference.runner.ts');
  const manifest = await resolveModel(model);
  const source = await openRaster(image);
  // The server keeps one warm session per model: load it and run one batch (onnxruntime sizes its
  // arena on the first runs) before timing, and report that start-up on its own.
  const l0 = performance.now();
  const runner = await getInferenceRunner(manifest);
  const T = manifest.tiling.tileSize;
  await runner.run(new Float32Array(batchSize * 3 * T * T), batchSize, T, T);
  const startSeconds = (performance.now() - l0) / 1000;
  const cpu0 = process.cpuUsage();
  const r = await computeChm(out, { source, manifest, batchSize, runner });
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  await releaseInferenceRunners();
  const peakRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ startSeconds, seconds: r.seconds, inferenceSeconds: r.inferenceSeconds, prepareSeconds: r.prepareSeconds, blendSeconds: r.blendSeconds, writeSeconds: r.writeSeconds, cpuSeconds, windows: r.windows, inferred: r.inferred, width: r.grid.width, height: r.grid.height, peakRss }) + '\n');
}

/**
 * The model alone, as the engine runs it (its runner: one session per core for a small model), on
 * `tiles` tiles of seeded input, as many batches in flight as the engine keeps, in the runner's
 * shared input buffers as the engine fills them, after a warm-up batch per session.
 */
async function pureRunner(model: string, batch: number, tiles: number) {
  const { resolveModel } = await import('../server/model/registry.ts');
  const { getInferenceRunner, releaseInferenceRunners, runnerLayout } = await import('../server/chm/inference.runner.ts');
  const manifest = await resolveModel(model);
  const runner = await getInferenceRunner(manifest);
  const layout = runnerLayout(manifest);
  const T = manifest.tiling.tileSize;
  const input = seededInput(batch, T);
  await Promise.all(Array.from({ length: layout.sessions }, () => runner.run(input.slice(), batch, T, T)));
  // at least `tiles` tiles and at least MIN_PURE_SECONDS, so a fast model's rate is not a blip
  const t = await timeEngineRunner(runner, { batch, tiles, minSeconds: MIN_PURE_SECONDS });
  await releaseInferenceRunners();
  process.stdout.write(JSON.stringify({ ...t, sessions: layout.sessions, threads: layout.threads }) + '\n');
}

/** The session alone on `tiles` tiles of seeded input, in batches, after one warm-up batch. */
async function pure(model: string, batch: number, tiles: number) {
  const { resolveModel } = await import('../server/model/registry.ts');
  const { getModelSession, releaseAllSessions } = await import('../server/model/session.ts');
  const manifest = await resolveModel(model);
  const session = await getModelSession(manifest);
  const T = manifest.tiling.tileSize;
  const input = seededInput(batch, T);
  await session.run(input, batch, T, T);
  const t = await timeRuns((x) => session.run(x, batch, T, T), input, batch, tiles, { minSeconds: MIN_PURE_SECONDS });
  await releaseAllSessions();
  process.stdout.write(JSON.stringify(t) + '\n');
}

function runJson(cmd: string, args: string[]): any {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line);
}

const self = fileURLToPath(import.meta.url);
const nodeTs = (args: string[]) => runJson(process.execPath, ['--import', 'tsx', self, ...args]);
const gb = (b: number) => `${(b / 2 ** 30).toFixed(2)} GB`;

/**
 * onnxruntime float32 MatMul GFLOP/s: the best over a few square sizes (best of 5 runs each), per
 * wall second, and per CPU second (all threads) at that size. The model's own GEMMs can beat one
 * size's figure, so the peak is the best of several.
 */
async function ortMatmulPeak(dir: string, sizes = [1024, 2048, 3072, 4096]): Promise<{ wall: number; cpu: number; n: number }> {
  let best = { wall: 0, cpu: 0, n: 0 };
  for (const n of sizes) {
    const path = join(dir, `matmul-${n}.onnx`);
    runJsonOrNull(PYTHON, [join(here, 'inference_torch.py'), 'matmul-onnx', '--out', path, '--n', String(n)]);
    const session = await ort.InferenceSession.create(path, { intraOpNumThreads: availableParallelism(), interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const a = new ort.Tensor('float32', Float32Array.from({ length: n * n }, (_, i) => (i % 7) * 0.1), [n, n]);
    const b = new ort.Tensor('float32', Float32Array.from({ length: n * n }, (_, i) => (i % 5) * 0.1), [n, n]);
    await session.run({ a, b });
    let fastest = Infinity;
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await session.run({ a, b });
      fastest = Math.min(fastest, (performance.now() - t) / 1000);
    }
    const cpu = process.cpuUsage(cpu0);
    await session.release();
    const wall = (2 * n ** 3) / fastest / 1e9;
    if (wall > best.wall) best = { wall, cpu: (5 * 2 * n ** 3) / ((cpu.user + cpu.system) / 1e6) / 1e9, n };
  }
  return best;
}

function runJsonOrNull(cmd: string, args: string[]): any {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) return null;
  const line = r.stdout.trim().split('\n').pop();
  try {
    return line ? JSON.parse(line) : {};
  } catch {
    return {};
  }
}

async function main() {
  const { resolveModel } = await import('../server/model/registry.ts');
  const { generateScene } = await import('../server/scene/generate.ts');
  const chosen = benchModel(values.model!);
  values.model = chosen.model;
  const manifest = await resolveModel(values.model);
  const sizes = values.sizes!.split(',').map(Number);
  const batch = values.batch ? Number(values.batch) : defaultBatch(manifest);
  const dir = await mkdtemp(join(tmpdir(), 'bench-inference-'));
  console.log(`# bench/inference: model ${manifest.name} ${manifest.version} (${manifest.architecture}, tile ${manifest.tiling.tileSize} stride ${manifest.tiling.stride}, ${manifest.input.gsd} m), batch ${batch}`);
  console.log(`# machine: ${cpus()[0]?.model ?? '?'}, ${availableParallelism()} threads available, node ${process.version}, onnxruntime-node ${ort.env.versions?.common ?? ''}`);
  try {
    const rows: Array<Record<string, number>> = [];
    for (const size of sizes) {
      const sceneDir = join(dir, `scene-${size}`);
      const t0 = performance.now();
      await generateScene({ out: sceneDir, width: size, height: size, gsd: manifest.input.gsd, seed: 1, preset: 'mixed', crowns: false });
      const sceneSeconds = (performance.now() - t0) / 1000;
      const r = nodeTs(['--child', join(sceneDir, 'image.tif'), '--out', join(dir, `chm-${size}.tif`), '--model', values.model!, '--batch', String(batch)]);
      rows.push({ size, ...r, sceneSeconds });
      console.log(`end-to-end ${size}x${size} px (${((size * manifest.input.gsd) ** 2 / 1e4).toFixed(1)} ha): ${r.windows} tiles in ${r.seconds.toFixed(2)} s = ${(r.windows / r.seconds).toFixed(2)} tiles/s, ${((size * size) / r.seconds / 1e6).toFixed(3)} Mpx/s; model compute ${r.inferenceSeconds.toFixed(2)} s (summed over its sessions); peak RSS ${gb(r.peakRss)}; main thread: read+normalise ${r.prepareSeconds.toFixed(2)} s (wall, overlapped), blend ${r.blendSeconds.toFixed(2)} s, write ${r.writeSeconds.toFixed(2)} s  (scene generated in ${sceneSeconds.toFixed(1)} s; before it, loading the model and a first batch took ${r.startSeconds.toFixed(2)} s, as once per server process)`);
    }
    const last = rows[rows.length - 1];
    const rss = rows.map((r) => r.peakRss);
    console.log(`peak RSS across sizes: ${rss.map(gb).join(' -> ')} (area x${((sizes[sizes.length - 1] / sizes[0]) ** 2).toFixed(0)}; target < 1.5 GB, flat)`);

    const sample = Math.min(last.windows, Math.max(4 * batch, 32)); // and at least MIN_PURE_SECONDS of work
    // the model alone, both ways: one session on every core, and the engine's own runner; the
    // faster is the reference
    const single = nodeTs(['--pure', String(sample), '--model', values.model!, '--batch', String(batch)]);
    const pooled = nodeTs(['--pure-runner', String(sample), '--model', values.model!, '--batch', String(batch)]);
    console.log(`pure inference: one session x ${availableParallelism()} threads ${(single.tiles / single.seconds).toFixed(2)} tiles/s; the engine's runner (${pooled.sessions} session(s) x ${pooled.threads} thread(s)) ${(pooled.tiles / pooled.seconds).toFixed(2)} tiles/s`);
    const p = single.tiles / single.seconds >= pooled.tiles / pooled.seconds ? single : pooled;
    const pureRate = p.tiles / p.seconds;
    const pureForRun = last.windows / pureRate;
    console.log(`pure inference (the faster, seeded input, ${p.tiles} tiles): ${pureRate.toFixed(2)} tiles/s -> ${pureForRun.toFixed(2)} s for the ${last.windows} tiles of ${last.size}^2`);
    console.log(`end-to-end vs pure inference: ${last.seconds.toFixed(2)} s vs ${pureForRun.toFixed(2)} s = ${((last.seconds / pureForRun - 1) * 100).toFixed(1)}% overhead in wall time (target <= 15%)`);
    const pureCpu = (p.cpuSeconds / p.tiles) * last.windows;
    console.log(`  by CPU time (robust to other load on the machine): ${last.cpuSeconds.toFixed(2)} s vs ${pureCpu.toFixed(2)} s = ${((last.cpuSeconds / pureCpu - 1) * 100).toFixed(1)}% overhead`);

    const checkpoint = chosen.checkpoint ?? (typeof manifest.provenance.checkpoint === 'string' ? resolve(FIXTURES, manifest.provenance.checkpoint) : null);
    const manifestPath = join(manifest.dir, 'manifest.json');
    // the project's own architecture is rebuilt in torch with random weights when its trained
    // checkpoint is not at hand (it is not in the repository): same arithmetic, so same FLOPs and speed
    const ownArch = !checkpoint && manifest.architecture === 'vit-dpt';
    const torchModel = checkpoint ? ['--checkpoint', checkpoint] : [];
    const fl = checkpoint || ownArch ? runJsonOrNull(PYTHON, [join(here, 'inference_torch.py'), 'flops', ...torchModel, '--manifest', manifestPath, '--size', String(manifest.tiling.tileSize)]) : null;
    const np = runJsonOrNull(PYTHON, [join(here, 'inference_torch.py'), 'peak', '--n', '2048', '--threads', String(availableParallelism())]);
    const ort2 = await ortMatmulPeak(dir).catch(() => ({ wall: NaN, cpu: NaN, n: 0 }));
    const ortPeak = ort2.wall;
    const peak = Math.max(np?.gflops ?? 0, Number.isFinite(ortPeak) ? ortPeak : 0);
    console.log(`matmul peak (float32, ${availableParallelism()} threads): numpy ${np?.gflops?.toFixed(1) ?? 'n/a'} GFLOP/s at 2048^3, onnxruntime ${Number.isFinite(ortPeak) ? ortPeak.toFixed(1) : 'n/a'} GFLOP/s (best of 1024^3 to 4096^3: ${ort2.n}^3) (per CPU-second: numpy ${np?.gflops_per_cpu_second?.toFixed(1) ?? 'n/a'}, onnxruntime ${ort2.cpu.toFixed(1)})`);
    if (fl?.by_op) {
      const matmulConv = Object.entries(fl.by_op as Record<string, number>).filter(([k]) => /conv|mm|matmul|linear/.test(k)).reduce((s, [, v]) => s + v, 0);
      const achievedPure = (matmulConv * pureRate) / 1e9;
      // end to end: the whole run's wall time (the runner's own timer sums parallel sessions)
      const achievedE2e = (matmulConv * last.inferred) / last.seconds / 1e9;
      console.log(`model FLOPs per ${manifest.tiling.tileSize}^2 tile (conv + matmul, torch.profiler on the port): ${(matmulConv / 1e9).toFixed(3)} GFLOP`);
      console.log(`achieved during inference: ${achievedPure.toFixed(1)} GFLOP/s pure, ${achievedE2e.toFixed(1)} GFLOP/s end to end = ${((100 * achievedPure) / peak).toFixed(0)}% / ${((100 * achievedE2e) / peak).toFixed(0)}% of the measured peak ${peak.toFixed(1)} (target >= 60%)`);
      const perCpu = (matmulConv * p.tiles) / p.cpuSeconds / 1e9;
      console.log(`  per CPU-second (robust to other load): model ${perCpu.toFixed(1)} vs onnxruntime matmul ${ort2.cpu.toFixed(1)} GFLOP/s = ${((100 * perCpu) / ort2.cpu).toFixed(0)}%`);
    } else {
      console.log('model FLOPs: n/a (needs the checkpoint named in the manifest under ../shared/fixtures/hrch and Python with torch)');
    }

    if (!values['no-torch'] && (checkpoint || ownArch)) {
      const tSize = Number(values['torch-size'] ?? last.size);
      const row = rows.find((r) => r.size === tSize) ?? last;
      const image = join(dir, `scene-${row.size}`, 'image.tif');
      const t = runJsonOrNull(PYTHON, [join(here, 'inference_torch.py'), 'pipeline', '--image', image, ...torchModel, '--manifest', manifestPath, '--out', join(dir, 'torch-chm.tif'), '--threads', String(availableParallelism())]);
      if (t?.seconds) {
        const px = row.size * row.size;
        // both sides without loading the model (ours: a warm session, as the server runs it)
        const theirSeconds = t.seconds - (t.load_seconds ?? 0);
        const ours = px / row.seconds / 1e6, theirs = px / theirSeconds / 1e6;
        console.log(`PyTorch ${ownArch ? 'model (same architecture, random weights: timing only)' : 'port'}, Meta's notebook pipeline (1024 px windows, ${t.tiles} tiles, ${t.threads} threads): ${theirSeconds.toFixed(2)} s end-to-end after ${(t.load_seconds ?? 0).toFixed(2)} s loading = ${theirs.toFixed(3)} Mpx/s, model ${(t.tiles / t.model_seconds).toFixed(2)} tiles/s, peak RSS ${gb(t.peak_rss)}`);
        console.log(`forestmap vs PyTorch on the same ${row.size}^2 raster: ${ours.toFixed(3)} vs ${theirs.toFixed(3)} Mpx/s = ${(ours / theirs).toFixed(2)}x end-to-end; model alone ${pureRate.toFixed(2)} vs ${(t.tiles / t.model_seconds).toFixed(2)} tiles/s = ${(pureRate / (t.tiles / t.model_seconds)).toFixed(2)}x (target >= 3x)`);
        console.log(`  by CPU time for the whole raster: ${row.cpuSeconds.toFixed(1)} s vs ${t.cpu_seconds.toFixed(1)} s = ${(t.cpu_seconds / row.cpuSeconds).toFixed(2)}x less CPU`);
      } else {
        console.log('PyTorch pipeline: failed or unavailable');
      }
    }
    await writeFile(join(dir, 'rows.json'), JSON.stringify(rows));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (values.child) await child(values.child, values.out!, values.model!, Number(values.batch));
else if (values.pure) await pure(values.model!, Number(values.batch), Number(values.pure));
else if (values['pure-runner']) await pureRunner(values.model!, Number(values.batch), Number(values['pure-runner']));
else await main();
