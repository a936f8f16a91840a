/**
 * bench/scene: seconds and peak RSS to generate synthetic scenes of growing size. Each size runs
 * in its own child process (so peak RSS is that scene's alone), writing image.tif, chm.tif and
 * trees.geojson (crown polygons off: they are a GeoJSON cost, not a rendering one). Time should
 * grow with pixels; memory should stay flat (the scene streams strip by strip).
 *
 *   npx tsx bench/scene.ts [sizes=2000,8000] [--preset mixed] [--gsd 0.5] [--keep]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateScene } from '../server/scene/generate.ts';

const args = process.argv.slice(2);

if (args[0] === '--child') {
  const [, size, preset, gsd, out] = args;
  const t0 = performance.now();
  const s = await generateScene({ width: Number(size), height: Number(size), gsd: Number(gsd), seed: 1, preset, out, crowns: false });
  const seconds = (performance.now() - t0) / 1000;
  // maxRSS is in kilobytes: the peak resident set of this process over its life.
  process.stdout.write(JSON.stringify({ seconds, peakRssMB: process.resourceUsage().maxRSS / 1024, trees: s.counts.trees }) + '\n');
  process.exit(0);
}

const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const sizes = (args.find((a) => /^\d+(,\d+)*$/.test(a)) ?? '2000,8000').split(',').map(Number);
const preset = flag('preset', 'mixed');
const gsd = flag('gsd', '0.5');
const self = fileURLToPath(import.meta.url);

console.log(`bench/scene: preset ${preset}, gsd ${gsd} m, seed 1, one child process per size`);
console.log('size      pixels      seconds   µs/pixel  peak RSS MB  trees      output MB');
for (const size of sizes) {
  const out = mkdtempSync(join(tmpdir(), `bench-scene-${size}-`));
  const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', String(size), preset, gsd, out], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) {
    console.log(`${size}: failed (${r.status}): ${r.stderr.slice(-500)}`);
    continue;
  }
  const m = JSON.parse(r.stdout.trim().split('\n').pop()!);
  const bytes = readdirSync(out).reduce((sum, f) => sum + statSync(join(out, f)).size, 0);
  const px = size * size;
  console.log(
    `${`${size}²`.padEnd(9)} ${px.toExponential(2).padEnd(11)} ${m.seconds.toFixed(1).padStart(7)}   ${((m.seconds * 1e6) / px).toFixed(2).padStart(8)}  ${m.peakRssMB.toFixed(0).padStart(11)}  ${String(m.trees).padEnd(10)} ${(bytes / 1e6).toFixed(0).padStart(9)}`,
  );
  if (!args.includes('--keep')) rmSync(out, { recursive: true, force: true });
}
