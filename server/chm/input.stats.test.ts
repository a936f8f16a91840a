import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openRaster } from '../raster/source.ts';
import { writeCog } from '../raster/cog.writer.ts';
import type { Grid } from '../raster/types.ts';
import { crsFromEpsg } from '../../tiles/projection.ts';
import { loadManifest, type LoadedManifest } from '../model/manifest.ts';
import { percentileMatch, percentileRemap, percentiles, prepareTile } from '../model/preprocess.ts';
import { computeChmImage } from './engine.ts';
import { computeChmBlock } from './block.ts';
import type { InferenceRunner } from './inference.runner.ts';
import { inputAdjustment, STRETCH_PERCENTILE } from './input.stats.ts';
import { texture, writeRgb } from './test.helpers.ts';

const miniDir = fileURLToPath(new URL('../../models/hrch-mini', import.meta.url));
const utm = crsFromEpsg(32610);
let dir: string;
let mini: LoadedManifest;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'input-stats-'));
  mini = await loadManifest(miniDir);
});
after(() => rm(dir, { recursive: true, force: true }));

/** A model stand-in that records its input tiles and answers a height made from them. */
function recordingRunner(manifest: LoadedManifest): InferenceRunner & { inputs: Float32Array[] } {
  const inputs: Float32Array[] = [];
  return {
    manifest, computeMs: 0, inputs,
    async run(input, batch, h, w) {
      const n = h * w;
      const out = new Float32Array(batch * n);
      for (let b = 0; b < batch; b++) {
        inputs.push(input.slice(b * 3 * n, (b + 1) * 3 * n));
        for (let i = 0; i < n; i++) out[b * n + i] = input[b * 3 * n + i] + 2 * input[b * 3 * n + n + i] - input[b * 3 * n + 2 * n + i];
      }
      return out;
    },
  };
}

/** The R,G,B planes of a width x height tile at (x0, y0) of pixel(). */
function tilePlanes(pixel: (x: number, y: number, c: number) => number, x0: number, y0: number, size: number): Float32Array[] {
  return [0, 1, 2].map((c) => Float32Array.from({ length: size * size }, (_, i) => pixel(x0 + (i % size), y0 + Math.floor(i / size), c)));
}

async function writeRgb16(path: string, width: number, height: number, pixel: (x: number, y: number, c: number) => number): Promise<Grid> {
  const grid: Grid = { width, height, transform: [500000, 0.6, 0, 5000000, 0, -0.6], crs: utm };
  await writeCog(path, { grid, bands: 3, sampleType: 'uint16', tileSize: 256, photometric: 'rgb' }, (w) =>
    [0, 1, 2].map((c) => Uint16Array.from({ length: w.width * w.height }, (_, i) => pixel(i % w.width, w.y + Math.floor(i / w.width), c))));
  return grid;
}

test('16-bit imagery is brought to the 8-bit range by one gain from the whole image', async () => {
  const eight = texture(3);
  // a 14-bit-like sensor range, brighter to the east (so a part's percentiles are not the whole's)
  const sixteen = (x: number, y: number, c: number) => eight(x, y, c) * 40 + 7 + x * 6;
  const path = join(dir, 'rgb16.tif');
  await writeRgb16(path, 600, 520, sixteen);
  const source = await openRaster(path);
  const adj = await inputAdjustment(source, mini, false);
  // independently: the brightest band's 99.5th percentile of every pixel maps to 255
  const all = [0, 1, 2].map((c) => Float32Array.from({ length: 600 * 520 }, (_, i) => sixteen(i % 600, Math.floor(i / 600), c)));
  const high = Math.max(...all.map((b) => percentiles(b, [STRETCH_PERCENTILE])[0]));
  assert.ok(high > 255);
  assert.equal(adj.valueGain, 255 / high);
  assert.equal(adj.remap, null);
  assert.equal(await inputAdjustment(source, mini, false), adj, 'measured once per open raster, not again for every block');

  const runner = recordingRunner(mini);
  await computeChmImage({ source, manifest: mini, runner });
  const first = runner.inputs[0];
  const want = prepareTile(tilePlanes(sixteen, 0, 0, 256), mini.input, adj);
  assert.deepEqual(first, want, 'the first tile is the gained, normalised pixels');
  // and the values are in the range the model was trained on, not thousands of std-devs away
  let max = 0;
  for (const v of first) max = Math.max(max, Math.abs(v));
  assert.ok(max < 6, `normalised input reaches ${max}`);

  // a block of the raster uses the whole raster's gain: equal to the whole CHM there
  const whole = await computeChmImage({ source, manifest: mini, runner: recordingRunner(mini) });
  const block = { x: 0, y: 192, width: 150, height: 150 };
  const part = await computeChmBlock(block, { source, manifest: mini, runner: recordingRunner(mini) });
  for (let y = 0; y < block.height; y++) {
    for (let x = 0; x < block.width; x++) assert.equal(part.bands[0][y * block.width + x], whole.bands[0][(block.y + y) * 600 + block.x + x]);
  }
});

test('float reflectance (0..1) is stretched by the same rule; float imagery in 0..255 is left as is', async () => {
  const eight = texture(3);
  const grid: Grid = { width: 300, height: 260, transform: [500000, 0.6, 0, 5000000, 0, -0.6], crs: utm };
  const writeFloat = (path: string, pixel: (x: number, y: number, c: number) => number) =>
    writeCog(path, { grid, bands: 3, sampleType: 'float32', tileSize: 256 }, (w) =>
      [0, 1, 2].map((c) => Float32Array.from({ length: w.width * w.height }, (_, i) => pixel(i % w.width, w.y + Math.floor(i / w.width), c))));
  // surface reflectance: dark vegetation, a few bright pixels
  const reflectance = (x: number, y: number, c: number) => eight(x, y, c) / 800 + (x === 7 && y === 9 ? 0.9 : 0);
  await writeFloat(join(dir, 'refl.tif'), reflectance);
  const adj = await inputAdjustment(await openRaster(join(dir, 'refl.tif')), mini, false);
  const all = [0, 1, 2].map((c) => Float32Array.from({ length: 300 * 260 }, (_, i) => reflectance(i % 300, Math.floor(i / 300), c)));
  const high = Math.max(...all.map((b) => percentiles(b, [STRETCH_PERCENTILE])[0]));
  assert.ok(high < 0.5);
  assert.equal(adj.valueGain, 255 / high, 'the brightest band\'s 99.5th percentile maps to 255');

  await writeFloat(join(dir, 'float255.tif'), (x, y, c) => eight(x, y, c));
  assert.equal((await inputAdjustment(await openRaster(join(dir, 'float255.tif')), mini, false)).valueGain, 1);
});

test("aerial percentile matching uses the whole image's percentiles, the same for every tile", async () => {
  // dark on the left, bright on the right: per-tile matching would stretch each half on its own
  const base = texture(5);
  const pixel = (x: number, y: number, c: number) => Math.min(255, Math.round(base(x, y, c) * (x < 300 ? 0.5 : 1.3)));
  const path = join(dir, 'halves.tif');
  await writeRgb(path, 600, 520, 0.6, utm, [500000, 5000000], pixel);
  const source = await openRaster(path);
  const match = { percentiles: [5, 95] as [number, number], target: [[0.1, 0.12, 0.08], [0.55, 0.5, 0.45]] as [[number, number, number], [number, number, number]], when: 'aerial' as const };
  const manifest: LoadedManifest = { ...mini, input: { ...mini.input, percentileMatch: match } };

  const adj = await inputAdjustment(source, manifest, true);
  const all = [0, 1, 2].map((c) => Float32Array.from({ length: 600 * 520 }, (_, i) => pixel(i % 600, Math.floor(i / 600), c) * manifest.input.scale));
  const remap = all.map((b, c) => {
    const [lo, hi] = percentiles(b, match.percentiles);
    return percentileRemap(lo, hi, match, c);
  });
  assert.deepEqual(adj.remap, remap);
  assert.equal((await inputAdjustment(source, manifest, false)).remap, null, 'not applied unless the imagery is marked aerial');

  const runner = recordingRunner(manifest);
  await computeChmImage({ source, manifest, aerial: true, runner });
  const first = runner.inputs[0];
  const tile = tilePlanes(pixel, 0, 0, 256);
  assert.deepEqual(first, prepareTile(tile, manifest.input, { valueGain: 1, remap }), 'byte table equals the per-pixel preparation');
  const perTile = percentileMatch(tile.map((b) => b.map((v) => v * manifest.input.scale)), match);
  let differs = 0;
  for (let c = 0; c < 3; c++) for (let i = 0; i < 256 * 256; i += 97) if (Math.abs(perTile[c][i] - remap[c].gain * (tile[c][i] * manifest.input.scale - remap[c].lo) - remap[c].low) > 1e-3) differs++;
  assert.ok(differs > 100, 'the dark tile is not matched on its own percentiles');
});
