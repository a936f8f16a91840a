/**
 * bench/trees: tree tops (lmf, variable window ws = 0.07h + 3) and Dalponte crowns on
 *  1. the 1 km NEON lidar CHM tile (1 Mpx; ../shared/data, skipped when missing), in memory;
 *  2. generated CHMs (server/scene, default 2000 and 4000 px square) processed in tiles from disk,
 *     each in a child process so its peak RSS is its own (memory should stay flat in area);
 * and, in the same run on the same 1 Mpx CHM, the usual Python route (scikit-image peak_local_max +
 * watershed, /usr/bin/python3 or FORESTMAP_PYTHON), printing the speed ratio (target >= 5x).
 * Also scores the tops and crowns against the generated scene's truth trees.
 * Times are the best of N runs, wall and CPU (the machine may be shared).
 *
 *   npx tsx bench/trees.ts [--size 2000,4000] [--repeats 15] [--keep]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openRaster } from '../server/raster/source.ts';
import { chmPlane, detectTrees } from '../server/trees/detect.ts';
import { detectTreesTiled } from '../server/trees/tiled.ts';
import { findTops } from '../server/trees/lmf.ts';
import { dalponte2016 } from '../server/trees/dalponte.ts';
import type { RasterImage } from '../server/raster/types.ts';
import type { TreeOptions } from '../server/trees/types.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : fallback; };
const OPTS: TreeOptions = { ws: (h) => 0.07 * h + 3, hmin: 2, algorithm: 'dalponte' };

if (args[0] === '--child') {
  // tiled run over a CHM file; prints JSON with timing and peak RSS of this process alone
  const source = await openRaster(args[1]);
  const t0 = performance.now(), c0 = process.cpuUsage();
  let trees = 0;
  await detectTreesTiled(source, { ...OPTS, tileSize: 512, onTile: (t) => { trees += t.length; } });
  const cpu = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({ wall: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6, trees, peakRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n');
  process.exit(0);
}

const repeats = Number(flag('repeats', '15'));
const sizes = flag('size', '2000,4000').split(',').map(Number);
const python = process.env.FORESTMAP_PYTHON ?? '/usr/bin/python3';
const here = fileURLToPath(new URL('.', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'bench-trees-'));

/** Best of n runs: the least wall time and, separately, the least CPU time (the machine may be shared). */
function best<T>(n: number, fn: () => T): { wall: number; cpu: number; result: T } {
  let out: { wall: number; cpu: number; result: T } | null = null;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now(), c0 = process.cpuUsage();
    const result = fn();
    const c = process.cpuUsage(c0);
    const wall = (performance.now() - t0) / 1000, cpu = (c.user + c.system) / 1e6;
    out = out ? { wall: Math.min(out.wall, wall), cpu: Math.min(out.cpu, cpu), result } : { wall, cpu, result };
  }
  return out!;
}

function skimage(image: RasterImage): { wall_s: number; cpu_s: number; trees: number } | null {
  const raw = join(work, 'chm.f32');
  writeFileSync(raw, chmPlane(image));
  const r = spawnSync(python, [join(here, 'trees_skimage.py'), raw, String(image.grid.width), String(image.grid.height), String(repeats)], { encoding: 'utf8' });
  if (r.status !== 0) { console.log(`  scikit-image: not run (${python}: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`); return null; }
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function benchInMemory(label: string, image: RasterImage): void {
  const { width, height } = image.grid;
  const px = width * height;
  const chm = chmPlane(image);
  const tops = best(repeats, () => findTops(chm, width, height, { ws: OPTS.ws!, hmin: 2, shape: 'circular', resX: 1, resY: 1 }));
  const crowns = best(repeats, () => dalponte2016(chm, width, height, tops.result, { thTree: 2, thSeed: 0.45, thCr: 0.55, maxCr: 10 }));
  const labelsOnly = best(repeats, () => detectTrees(image, { ...OPTS, polygons: false }));
  const full = best(repeats, () => detectTrees(image, OPTS));
  const n = full.result.trees.length;
  console.log(`\n${label}: ${width} x ${height} px, ${n} trees`);
  console.log(`  tops (lmf 0.07h+3)           ${(tops.wall * 1000).toFixed(0).padStart(6)} ms wall ${(tops.cpu * 1000).toFixed(0).padStart(6)} ms cpu`);
  console.log(`  crowns (dalponte2016)        ${(crowns.wall * 1000).toFixed(0).padStart(6)} ms wall ${(crowns.cpu * 1000).toFixed(0).padStart(6)} ms cpu`);
  console.log(`  tops + crowns + metrics      ${(labelsOnly.wall * 1000).toFixed(0).padStart(6)} ms wall ${(labelsOnly.cpu * 1000).toFixed(0).padStart(6)} ms cpu  ${(px / labelsOnly.wall / 1e6).toFixed(2)} Mpx/s`);
  console.log(`  ... + crown polygons         ${(full.wall * 1000).toFixed(0).padStart(6)} ms wall ${(full.cpu * 1000).toFixed(0).padStart(6)} ms cpu  ${(px / full.wall / 1e6).toFixed(2)} Mpx/s`);
  console.log(`  peak RSS so far              ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
  const sk = skimage(image);
  if (sk) {
    console.log(`  scikit-image peak_local_max + watershed: ${(sk.wall_s * 1000).toFixed(0)} ms wall ${(sk.cpu_s * 1000).toFixed(0)} ms cpu, ${sk.trees} tops`);
    console.log(`  ratio (skimage / ours, tops + crowns, wall): ${(sk.wall_s / labelsOnly.wall).toFixed(2)}x; cpu: ${(sk.cpu_s / labelsOnly.cpu).toFixed(2)}x; with polygons (wall): ${(sk.wall_s / full.wall).toFixed(2)}x   (target >= 5x)`);
  }
}

console.log(`bench/trees: lmf ws = 0.07h + 3, hmin 2, dalponte2016 (lidR defaults), best of ${repeats}`);
const neon = join(here, '../../shared/data/neon/NEON_D03_OSBS_DP3_399000_3284000_CHM.tif');
if (existsSync(neon)) {
  const src = await openRaster(neon);
  benchInMemory('NEON OSBS 1 km lidar CHM (1 m)', await src.readWindow({ x: 0, y: 0, width: 1000, height: 1000 }, { overview: 0, bands: [0] }));
} else {
  console.log('\nNEON 1 km tile: skipped (../shared/data missing)');
}

// generated scenes: CHMs on disk + truth trees; each tiled run in its own child process
const { generateScene } = await import('../server/scene/generate.ts');
let sceneDir = '';
let scene: Awaited<ReturnType<typeof generateScene>> | null = null;
for (const s of sizes) {
  const dir = join(work, `scene-${s}`);
  const generated = await generateScene({ out: dir, width: s, height: s, gsd: 1, seed: 1, preset: 'mixed', crowns: false });
  if (!scene) { scene = generated; sceneDir = dir; }
  const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', join(dir, generated.files.chm)], { encoding: 'utf8' });
  if (child.status === 0) {
    const r = JSON.parse(child.stdout.trim().split('\n').pop()!);
    console.log(`\ngenerated scene ${s} x ${s} px at 1 m (server/scene, preset mixed, seed 1), ${generated.counts.trees} true trees`);
    console.log(`  tiled from disk (512 px tiles + halo, crowns + polygons): ${r.trees} trees in ${r.wall.toFixed(2)} s wall, ${r.cpu.toFixed(2)} s cpu, ${(s * s / r.wall / 1e6).toFixed(2)} Mpx/s wall, ${(s * s / r.cpu / 1e6).toFixed(2)} Mpx/s cpu, peak RSS ${r.peakRssMB.toFixed(0)} MB`);
  } else console.log(`  tiled run failed: ${child.stderr}`);
  if (s !== sizes[0]) rmSync(dir, { recursive: true, force: true });
}
if (!scene) throw new Error('no scene size given');

// truth: tops within a crown radius of a true apex (one-to-one, nearest first), on a 1000 px corner
const src = await openRaster(join(sceneDir, scene.files.chm));
const corner = await src.readWindow({ x: 0, y: 0, width: Math.min(sizes[0], 1000), height: Math.min(sizes[0], 1000) }, { overview: 0, bands: [0] });
benchInMemory(`generated scene corner`, corner);
const truth = (JSON.parse(readFileSync(join(sceneDir, scene.files.trees), 'utf8')).features as Array<{ properties: { x: number; y: number; height_m: number; crown_radius_m: number } }>)
  .map((f) => f.properties)
  .filter((p) => { const t = corner.grid.transform; return p.x >= t[0] && p.x < t[0] + corner.grid.width && p.y <= t[3] && p.y > t[3] - corner.grid.height && p.height_m >= 2; });
for (const algorithm of ['dalponte', 'silva', 'watershed'] as const) {
  const result = detectTrees(corner, { ...OPTS, algorithm, polygons: false });
  const found = result.trees;
  const used = new Uint8Array(found.length);
  let tp = 0, iouSum = 0;
  const W = corner.grid.width, H = corner.grid.height, t0 = corner.grid.transform;
  // greedy one-to-one by distance: each true tree takes the nearest unused top within its crown radius
  for (const t of truth) {
    let bi = -1, bd = Infinity;
    for (let i = 0; i < found.length; i++) {
      if (used[i]) continue;
      const d = Math.hypot(found[i].x - t.x, found[i].y - t.y);
      if (d < bd) { bd = d; bi = i; }
    }
    if (!(bi >= 0 && bd <= t.crown_radius_m)) continue;
    used[bi] = 1; tp++;
    // crown IoU against the true crown disc, by pixel centres
    const r = t.crown_radius_m, cx = (t.x - t0[0]) - 0.5, cy = (t0[3] - t.y) - 0.5;
    let inter = 0, disc = 0;
    for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(H - 1, Math.ceil(cy + r)); y++) {
      for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(W - 1, Math.ceil(cx + r)); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 > r * r) continue;
        disc++;
        if (result.labels[y * W + x] === bi + 1) inter++;
      }
    }
    const ours = found[bi].crownArea;
    iouSum += inter / (ours + disc - inter || 1);
  }
  console.log(`  truth (${truth.length} trees >= 2 m), ${algorithm}: tops recall ${(tp / truth.length).toFixed(3)}, precision ${(tp / found.length).toFixed(3)}, mean crown IoU of matched ${(iouSum / Math.max(1, tp)).toFixed(3)}`);
}
if (!args.includes('--keep')) rmSync(work, { recursive: true, force: true });
else console.log(`kept ${work}`);
