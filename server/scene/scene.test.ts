import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import proj4 from 'proj4';
import { generateScene, SCENE_CRS, SCENE_ORIGIN, SCENE_SUN, type SceneSummary } from './generate.ts';
import { renderStrip } from './render.ts';
import { generateSceneOffThread } from './off.thread.ts';
import { makeLandscape } from './landscape.ts';
import { PRESETS } from './presets.ts';
import { topClearanceFor } from './trees.ts';
import { spawnSync } from 'node:child_process';
import { InvalidInputError } from '../errors.ts';
import { gdalInspect, gdalMissing, type GdalReport } from '../../test/gdal.inspect.ts';

const root = mkdtempSync(join(tmpdir(), 'scene-test-'));
const skip = { skip: gdalMissing };

interface TreeFeature {
  geometry: { type: string; coordinates: [number, number] };
  properties: { id: number; x: number; y: number; height_m: number; crown_radius_m: number; type: string };
}

function readTrees(dir: string): TreeFeature[] {
  const fc = JSON.parse(readFileSync(join(dir, 'trees.geojson'), 'utf8'));
  assert.equal(fc.type, 'FeatureCollection');
  return fc.features;
}

function float32(buf: Buffer): Float32Array {
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
}

const base = { width: 600, height: 400, gsd: 0.5, seed: 7, preset: 'mixed' };
const dirA = join(root, 'a');
let summaryA: Promise<SceneSummary> | null = null;
/** The main scene, generated once and shared by the tests that read it. */
const sceneA = () => (summaryA ??= generateScene({ ...base, out: dirA }));

test('image.tif and chm.tif are COGs on the same UTM grid, read back by GDAL', skip, async () => {
  const summary = await sceneA();
  const image = gdalInspect(join(dirA, 'image.tif'), { pixels: false });
  const chm = gdalInspect(join(dirA, 'chm.tif'), { pixels: false });
  for (const [name, r] of [['image', image], ['chm', chm]] as Array<[string, GdalReport & { overviewCount: number }]>) {
    assert.deepEqual(r.cogErrors, [], `${name} passes GDAL's COG validator`);
    assert.deepEqual(r.gdalMessages, [], `${name}: GDAL logs nothing`);
    assert.equal(r.epsg, 32610);
    assert.deepEqual(r.geoTransform, [SCENE_ORIGIN.x, 0.5, 0, SCENE_ORIGIN.y, 0, -0.5]);
    assert.equal(r.imageStructure.COMPRESSION, 'DEFLATE');
    assert.equal(r.imageStructure.LAYOUT, 'COG');
    // auto overviews: 600x400 -> 300x200 (still wider than a tile) -> 150x100.
    assert.deepEqual(r.levels.map((l) => [l.width, l.height, l.blockWidth]), [[600, 400, 256], [300, 200, 256], [150, 100, 256]]);
  }
  assert.equal(image.bandCount, 3);
  assert.equal(image.dataType, 'Byte');
  assert.equal(chm.bandCount, 1);
  assert.equal(chm.dataType, 'Float32');
  assert.equal(summary.grid.crs.epsg, 32610);
  const json = JSON.parse(readFileSync(join(dirA, 'scene.json'), 'utf8'));
  assert.equal(json.seed, 7);
  assert.equal(json.preset, 'mixed');
  assert.equal(json.counts.trees, summary.counts.trees);
});

test('the true CHM agrees with the true trees: every top pixel holds the tree height', skip, async () => {
  const summary = await sceneA();
  const trees = readTrees(dirA);
  assert.equal(trees.length, summary.counts.trees);
  assert.ok(trees.length > 300, `a 3 ha mixed stand has hundreds of trees, got ${trees.length}`);
  const chm = float32(gdalInspect(join(dirA, 'chm.tif'), { maxLevels: 1 }).levels[0].bands[0]);
  const toWgs84 = proj4(SCENE_CRS.proj4, 'WGS84');
  let worst = 0;
  for (const f of trees) {
    const { x, y, height_m } = f.properties;
    const col = Math.floor((x - SCENE_ORIGIN.x) / 0.5);
    const row = Math.floor((SCENE_ORIGIN.y - y) / 0.5);
    assert.ok(col >= 0 && col < 600 && row >= 0 && row < 400, `tree ${f.properties.id} lies inside the scene`);
    worst = Math.max(worst, Math.abs(chm[row * 600 + col] - height_m));
    // The point geometry is the same place in WGS84 (RFC 7946 order: lon, lat).
    const [lon, lat] = toWgs84.forward([x, y]);
    assert.ok(Math.abs(f.geometry.coordinates[0] - lon) < 1e-6 && Math.abs(f.geometry.coordinates[1] - lat) < 1e-6);
  }
  assert.ok(worst <= 0.5, `worst top-pixel error ${worst} m`);
  // The CHM holds nothing taller than the tallest tree, and bare ground is exactly 0.
  const maxTree = Math.max(...trees.map((t) => t.properties.height_m));
  assert.ok(chm.reduce((m, v) => Math.max(m, v), 0) <= maxTree + 1e-3);
  assert.ok(chm.some((v) => v === 0), 'some ground is visible');

  const crowns = JSON.parse(readFileSync(join(dirA, 'crowns.geojson'), 'utf8')).features;
  assert.deepEqual(crowns.map((c: { properties: { id: number } }) => c.properties.id), trees.map((t) => t.properties.id));
  assert.equal(crowns[0].geometry.type, 'Polygon');
});

test('the same seed gives byte-identical files; a window of a scene renders the same pixels', skip, async () => {
  await sceneA();
  const dirB = join(root, 'b');
  await generateScene({ ...base, out: dirB });
  for (const f of ['image.tif', 'chm.tif', 'trees.geojson', 'crowns.geojson', 'scene.json']) {
    assert.ok(readFileSync(join(dirA, f)).equals(readFileSync(join(dirB, f))), `${f} identical`);
  }
  // A smaller scene is the top-left corner of the larger one, pixel for pixel: each strip is
  // rendered from the world alone, not from what was rendered before.
  const dirC = join(root, 'c');
  await generateScene({ ...base, width: 300, height: 280, out: dirC });
  const big = gdalInspect(join(dirA, 'image.tif'), { maxLevels: 1 }).levels[0].bands;
  const small = gdalInspect(join(dirC, 'image.tif'), { maxLevels: 1 }).levels[0].bands;
  const bigChm = float32(gdalInspect(join(dirA, 'chm.tif'), { maxLevels: 1 }).levels[0].bands[0]);
  const smallChm = float32(gdalInspect(join(dirC, 'chm.tif'), { maxLevels: 1 }).levels[0].bands[0]);
  for (let r = 0; r < 280; r++) {
    for (let c = 0; c < 300; c++) {
      for (let b = 0; b < 3; b++) assert.equal(small[b][r * 300 + c], big[b][r * 600 + c], `band ${b} at ${c},${r}`);
      assert.equal(smallChm[r * 300 + c], bigChm[r * 600 + c]);
    }
  }
});

test('strips and column blocks join seamlessly: rendering is a function of pixel position', () => {
  const preset = PRESETS.mixed;
  const world = { seed: 5, preset, landscape: makeLandscape(5, preset), topClearance: topClearanceFor(0.5) };
  const scene = { world, width: 300, height: 120, gsd: 0.5, sun: SCENE_SUN };
  const whole = renderStrip(scene, 0, 120, 1024);
  const blocks = renderStrip(scene, 0, 120, 70);
  assert.ok(whole.trees.length > 20);
  assert.deepEqual(blocks.chm, whole.chm);
  for (let b = 0; b < 3; b++) assert.deepEqual(blocks.rgb[b], whole.rgb[b]);
  const keys = (ts: Array<{ i: number; j: number }>) => ts.map((t) => `${t.i},${t.j}`).sort();
  assert.deepEqual(keys(blocks.trees), keys(whole.trees));
  // Rows 40..80 rendered alone equal the same rows of the whole.
  const part = renderStrip(scene, 40, 40, 1024);
  assert.deepEqual(part.chm, whole.chm.subarray(40 * 300, 80 * 300));
  assert.deepEqual(part.rgb[1], whole.rgb[1].subarray(40 * 300, 80 * 300));
});

test('a different seed gives a different forest', skip, async () => {
  await sceneA();
  const dirD = join(root, 'd');
  await generateScene({ ...base, seed: 8, out: dirD });
  assert.ok(!readFileSync(join(dirA, 'image.tif')).equals(readFileSync(join(dirD, 'image.tif'))));
  assert.notDeepEqual(readTrees(dirA).slice(0, 20).map((t) => t.properties.x), readTrees(dirD).slice(0, 20).map((t) => t.properties.x));
});

test('presets differ as named: conifer and broadleaf shares, savanna density', async () => {
  const share = async (preset: string) => {
    const s = await generateScene({ width: 400, height: 400, gsd: 0.5, seed: 3, preset, out: join(root, preset), crowns: false });
    return { conifer: s.counts.conifer / s.counts.trees, perHa: s.counts.trees / 4 };
  };
  const conifer = await share('conifer');
  const broadleaf = await share('broadleaf');
  const sparse = await share('sparse');
  assert.ok(conifer.conifer > 0.85, `conifer preset conifer share ${conifer.conifer}`);
  assert.ok(broadleaf.conifer < 0.15, `broadleaf preset conifer share ${broadleaf.conifer}`);
  assert.ok(sparse.perHa < conifer.perHa / 4, `savanna ${sparse.perHa}/ha vs conifer ${conifer.perHa}/ha`);
});

test('at the coarsest GSD (1 m) every top pixel still holds its tree height', skip, async () => {
  const dir = join(root, 'coarse');
  await generateScene({ width: 300, height: 300, gsd: 1, seed: 11, preset: 'conifer', out: dir, crowns: false });
  const chm = float32(gdalInspect(join(dir, 'chm.tif'), { maxLevels: 1 }).levels[0].bands[0]);
  const trees = readTrees(dir);
  assert.ok(trees.length > 500);
  for (const f of trees) {
    const { x, y, height_m } = f.properties;
    const v = chm[Math.floor((SCENE_ORIGIN.y - y) / 1) * 300 + Math.floor(x - SCENE_ORIGIN.x)];
    assert.ok(Math.abs(v - height_m) <= 0.5, `tree ${f.properties.id}: chm ${v}, height ${height_m}`);
  }
});

test('forestmap scene: writes a scene; bad flags exit 2 with the reason', () => {
  const out = join(root, 'cli');
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/forestmap.js', 'scene', ...args], { encoding: 'utf8' });
  const ok = cli('--out', out, '--width', '64', '--height', '48', '--preset', 'sparse', '--seed', '4', '-q');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /64x48 px at 0.5 m, preset sparse, seed 4/);
  const json = JSON.parse(readFileSync(join(out, 'scene.json'), 'utf8'));
  assert.deepEqual([json.grid.width, json.grid.height, json.preset, json.seed], [64, 48, 'sparse', 4]);
  const bad = cli('--out', out, '--gsd', '5');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--gsd must be a number in \[0.1, 1\]/);
  const preset = cli('--out', out, '--preset', 'jungle');
  assert.equal(preset.status, 2);
  assert.match(preset.stderr, /unknown preset 'jungle'/);
  // a preview the command could not write is refused before the scene is made (it used to fail after it, in libvips's words)
  const preview = cli('--out', join(root, 'cli-preview'), '--width', '64', '--height', '48', '--preview', join(root, 'absent', 'p.png'));
  assert.equal(preview.status, 2);
  assert.match(preview.stderr, /^forestmap scene: --preview .*p\.png: there is no folder .*absent\n/);
  assert.equal(existsSync(join(root, 'cli-preview')), false, 'no scene was generated');
});

test('a failing output is an error, not a hang, and leaves no temp files', async () => {
  const out = join(root, 'blocked');
  mkdirSync(join(out, 'chm.tif', 'occupied'), { recursive: true });
  await assert.rejects(generateScene({ ...base, width: 64, height: 600, out, crowns: false }));
  assert.deepEqual(readdirSync(out).filter((f) => f.includes('.tmp-')), []);
});

test('bad options are clear errors', async () => {
  const out = join(root, 'bad');
  await assert.rejects(generateScene({ ...base, gsd: 2, out }), InvalidInputError);
  await assert.rejects(generateScene({ ...base, preset: 'jungle', out }), /unknown preset 'jungle'/);
  await assert.rejects(generateScene({ ...base, width: 10.5, out }), /width/);
  await assert.rejects(generateScene({ ...base, seed: -1, out }), /seed/);
  // The worker-thread path (used by the demo) reports the same errors, typed.
  await assert.rejects(generateSceneOffThread({ ...base, preset: 'jungle', out }), InvalidInputError);
});
