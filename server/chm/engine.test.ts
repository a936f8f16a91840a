import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openRaster } from '../raster/source.ts';
import { crsFromEpsg } from '../../tiles/projection.ts';
import { loadManifest, type LoadedManifest } from '../model/manifest.ts';
import { releaseAllSessions } from '../model/session.ts';
import { CancelledError, InvalidInputError } from '../errors.ts';
import { checkImagery, CHM_NODATA, computeChm, computeChmImage, DEFAULT_BATCH, defaultBatch, MAX_GSD_RATIO, type ChmProgress } from './engine.ts';
import { getInferenceRunner, releaseInferenceRunners, type InferenceRunner } from './inference.runner.ts';
import { readNpy } from './npy.ts';
import { texture, wholeWindow, writeRgb } from './test.helpers.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const miniDir = here('../../models/hrch-mini');
const convDir = here('./testdata/local-conv');
const fixtures = here('../../../shared/fixtures/hrch');
const utm = crsFromEpsg(32610);
const nztm = crsFromEpsg(2193);
let dir: string;
let conv: LoadedManifest;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chm-engine-'));
  conv = await loadManifest(convDir);
});
after(async () => {
  await releaseInferenceRunners();
  await releaseAllSessions();
  await rm(dir, { recursive: true, force: true });
});

function gdalinfo(path: string): any {
  return JSON.parse(execFileSync('gdalinfo', ['-json', path], { encoding: 'utf8' }));
}
const gdalMissing = (() => {
  try {
    execFileSync('gdalinfo', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'gdalinfo not installed';
  }
})();

/** Mean |horizontal gradient| on the columns where tile edges fall vs everywhere else. */
function seamGradients(img: Float32Array, width: number, height: number, edges: Set<number>): { boundary: number; inside: number } {
  let gb = 0, nb = 0, gi = 0, ni = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 1; x < width; x++) {
      const g = Math.abs(img[y * width + x] - img[y * width + x - 1]);
      if (edges.has(x)) { gb += g; nb++; } else { gi += g; ni++; }
    }
  }
  return { boundary: gb / nb, inside: gi / ni };
}

function interiorDiff(a: Float32Array, b: Float32Array, bWidth: number, width: number, height: number, margin: number) {
  let sum = 0, max = 0, n = 0;
  for (let y = margin; y < height - margin; y++) {
    for (let x = margin; x < width - margin; x++) {
      const d = Math.abs(a[y * width + x] - b[y * bWidth + x]);
      sum += d; max = Math.max(max, d); n++;
    }
  }
  return { mean: sum / n, max };
}

const mini448 = join(fixtures, 'mini_tiled_output_448.npy');
test("reproduces Meta's notebook tiling and blending (mini_tiled_output_448)", { skip: existsSync(mini448) && existsSync(join(miniDir, 'manifest.json')) ? false : 'needs ../shared/fixtures/hrch and models/hrch-mini' }, async () => {
  const img = readNpy(join(fixtures, 'mini_image_512_uint8.npy'));
  const path = join(dir, 'mini448.tif');
  await writeRgb(path, 448, 448, 0.6, utm, [500000, 5000000], (x, y, c) => img.data[(y * 512 + x) * 3 + c]);
  const m = await loadManifest(miniDir);
  // the notebook normalises with SSLNorm's red mean 0.430 and blends with the un-tapered window
  const notebook: LoadedManifest = { ...m, input: { ...m.input, mean: [0.43, m.input.mean[1], m.input.mean[2]] }, tiling: { ...m.tiling } };
  const chm = await computeChmImage({ source: await openRaster(path), manifest: notebook, taperEdges: false });
  const ref = readNpy(mini448);
  let max = 0;
  for (let i = 0; i < ref.data.length; i++) max = Math.max(max, Math.abs(chm.bands[0][i] - ref.data[i]));
  // 0.001 m of it is the notebook's +0.001 output offset, which the mini manifest leaves out
  assert.ok(max < 5e-3, `max |diff| ${max} m`);
});

test('seams: with a local model, tiled inference equals one whole-raster window away from the border', async () => {
  const W = 640, H = 560;
  const px = texture(3);
  const path = join(dir, 'seam-conv.tif');
  await writeRgb(path, W, H, 0.6, utm, [500000, 5000000], px);
  const source = await openRaster(path);
  const tiled = (await computeChmImage({ source, manifest: conv })).bands[0];
  const whole = await wholeWindow(conv, W, H, px);
  const d = interiorDiff(tiled, whole, W, W, H, 8);
  assert.ok(d.mean < 1e-3 && d.max < 0.1, `tiled vs whole: mean ${d.mean} m, max ${d.max} m`);
  const edges = new Set([192, 256, 384, 448]);
  const g = seamGradients(tiled, W, H, edges);
  const gw = seamGradients(whole, W, H, edges);
  assert.ok(g.boundary <= g.inside, `gradient across tile edges ${g.boundary} > inside ${g.inside}`);
  assert.ok(Math.abs(g.boundary - gw.boundary) < 0.01 * gw.boundary);
  // control: without overlap the same model leaves visible seams, which this measure detects
  const hard = (await computeChmImage({ source, manifest: { ...conv, tiling: { tileSize: 256, stride: 256, window: 'none' } } })).bands[0];
  const gh = seamGradients(hard, W, H, new Set([256, 384]));
  assert.ok(gh.boundary > 1.5 * gh.inside, `hard tiles: boundary ${gh.boundary} vs inside ${gh.inside}`);
});

test('seams: the HRCH mini model blends without seams and stays as close to one whole window as the model is to itself', { skip: existsSync(join(miniDir, 'manifest.json')) ? false : 'models/hrch-mini missing' }, async () => {
  const W = 640, H = 640;
  const px = texture(3);
  const path = join(dir, 'seam-mini.tif');
  await writeRgb(path, W, H, 0.6, utm, [500000, 5000000], px);
  const mini = await loadManifest(miniDir);
  const tiled = (await computeChmImage({ source: await openRaster(path), manifest: mini })).bands[0];
  const g = seamGradients(tiled, W, H, new Set([192, 256, 384, 448]));
  assert.ok(g.boundary <= g.inside, `gradient across tile edges ${g.boundary} > inside ${g.inside}`);
  // A ViT's prediction depends on its whole window (global attention), so no tiling can equal a
  // single 640 px window exactly. The yardstick is how far the model's own single-window output
  // moves when that window grows by 64 px: tiling must stay within twice that.
  const whole = await wholeWindow(mini, W, H, px);
  const wider = await wholeWindow(mini, W + 64, H + 64, px);
  const dTiled = interiorDiff(tiled, whole, W, W, H, 32);
  const dSelf = interiorDiff(whole, wider, W + 64, W, H, 32);
  assert.ok(dTiled.mean <= 2 * dSelf.mean, `tiled vs whole mean ${dTiled.mean} m; the model's own variation ${dSelf.mean} m`);
});

for (const c of [
  { name: 'UTM at the model GSD', crs: utm, epsg: 32610, gsd: 0.6, origin: [500123.4, 5001234.6] as [number, number], size: [300, 200] },
  { name: 'NZTM (EPSG:2193) at a finer GSD', crs: nztm, epsg: 2193, gsd: 0.25, origin: [1570000, 5180000] as [number, number], size: [500, 380] },
  { name: 'UTM at a coarser GSD', crs: utm, epsg: 32610, gsd: 1.0, origin: [500000, 5000000] as [number, number], size: [150, 130] },
]) {
  test(`geo: the CHM's CRS, bounds and grid agree with the input (${c.name})`, { skip: gdalMissing }, async () => {
    const input = join(dir, `geo-${c.epsg}-${c.gsd}.tif`);
    const out = join(dir, `geo-${c.epsg}-${c.gsd}-chm.tif`);
    await writeRgb(input, c.size[0], c.size[1], c.gsd, c.crs, c.origin, texture(1));
    await computeChm(out, { source: await openRaster(input), manifest: conv });
    const a = gdalinfo(input), b = gdalinfo(out);
    assert.equal(b.stac['proj:epsg'] ?? b.stac['proj:code'], a.stac['proj:epsg'] ?? a.stac['proj:code']);
    assert.ok(JSON.stringify(b.stac).includes(String(c.epsg)));
    assert.equal(b.bands[0].type, 'Float32');
    assert.equal(b.bands[0].noDataValue, CHM_NODATA);
    assert.ok(b.bands[0].overviews === undefined || Array.isArray(b.bands[0].overviews));
    assert.equal(b.metadata?.IMAGE_STRUCTURE?.COMPRESSION ?? b.metadata?.['IMAGE_STRUCTURE']?.COMPRESSION, 'DEFLATE');
    const [ax, , , ay] = a.geoTransform;
    const [bx, bdx, , by, , bdy] = b.geoTransform;
    assert.equal(bx, ax);
    assert.equal(by, ay);
    assert.ok(Math.abs(bdx - 0.6) < 1e-9 && Math.abs(bdy + 0.6) < 1e-9, `CHM pixel ${bdx} x ${bdy}`);
    const extentA = [c.size[0] * c.gsd, c.size[1] * c.gsd];
    const extentB = [b.size[0] * 0.6, b.size[1] * 0.6];
    for (const k of [0, 1]) assert.ok(extentB[k] >= extentA[k] - 1e-6 && extentB[k] < extentA[k] + 0.6, `extent ${extentB[k]} vs ${extentA[k]}`);
    if (c.gsd === 0.6) assert.deepEqual(b.size, a.size);
    const stats = JSON.parse(execFileSync('gdalinfo', ['-json', '-stats', out], { encoding: 'utf8' }));
    assert.ok(stats.bands[0].minimum >= 0 && stats.bands[0].maximum > 0, 'heights are metres >= 0');
    await rm(`${out}.aux.xml`, { force: true });
  });
}

test('nodata input becomes CHM nodata; valid pixels keep heights', async () => {
  const path = join(dir, 'masked.tif');
  await writeRgb(path, 300, 300, 0.6, utm, [500000, 5000000], texture(2), (x) => x >= 100);
  const img = await computeChmImage({ source: await openRaster(path), manifest: conv });
  const v = img.bands[0];
  for (let y = 0; y < 300; y += 7) {
    assert.equal(v[y * 300 + 50], CHM_NODATA);
    assert.notEqual(v[y * 300 + 150], CHM_NODATA);
  }
});

test('progress counts windows to the total; cancellation stops the run and leaves no file', async () => {
  const path = join(dir, 'cancel.tif');
  await writeRgb(path, 900, 700, 0.6, utm, [500000, 5000000], texture(4));
  const source = await openRaster(path);
  const seen: ChmProgress[] = [];
  const out = join(dir, 'progress-chm.tif');
  const r = await computeChm(out, { source, manifest: conv, batchSize: 2, onProgress: (p) => seen.push(p) });
  assert.equal(r.windows, 20);
  // 5 windows per tile row (x 0, 192, 384, 576, 644), batched 2 + 2 + 1 within each of 4 rows
  assert.deepEqual(seen.map((p) => p.done), [0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19, 20]);
  assert.ok(seen.every((p) => p.total === 20));
  assert.ok(seen.slice(1).every((p) => p.etaSeconds !== null && p.etaSeconds >= 0));

  const controller = new AbortController();
  const cancelled = join(dir, 'cancelled-chm.tif');
  const run = computeChm(cancelled, { source, manifest: conv, batchSize: 2, signal: controller.signal, onProgress: (p) => { if (p.done >= 4) controller.abort(); } });
  await assert.rejects(run, CancelledError);
  assert.equal(existsSync(cancelled), false);
  assert.deepEqual((await readdir(dir)).filter((n) => n.includes('cancelled-chm')), [], 'no temporary files left behind');
});

test("the manifest's tiling.batch is the default batch, and the CHM does not depend on the batch", async () => {
  assert.equal(defaultBatch(conv), DEFAULT_BATCH, 'a manifest without tiling.batch');
  const batched = { ...conv, tiling: { ...conv.tiling, batch: 3 } };
  assert.equal(defaultBatch(batched), 3);
  const path = join(dir, 'batch.tif');
  await writeRgb(path, 900, 700, 0.6, utm, [500000, 5000000], texture(5));
  const source = await openRaster(path);
  const seen: number[] = [];
  await computeChm(join(dir, 'batch-chm.tif'), { source, manifest: batched, onProgress: (p) => seen.push(p.done) });
  // 5 windows per tile row, batched 3 + 2 within each of 4 rows
  assert.deepEqual(seen, [0, 3, 5, 8, 10, 13, 15, 18, 20]);
  const a = await computeChmImage({ source, manifest: batched });
  const b = await computeChmImage({ source, manifest: conv, batchSize: 1 });
  assert.deepEqual(a.bands[0], b.bands[0]);
});

test('byte imagery normalised on the model\'s thread (runBytes) gives the CHM the main thread\'s lookup gives', async () => {
  const path = join(dir, 'bytes.tif');
  await writeRgb(path, 700, 600, 0.6, utm, [500000, 5000000], texture(9));
  const source = await openRaster(path);
  const runner = await getInferenceRunner(conv);
  let byBytes = 0, byValues = 0;
  const counting: InferenceRunner = {
    manifest: runner.manifest, get computeMs() { return runner.computeMs; },
    run: (x, b, h, w) => { byValues += b; return runner.run(x, b, h, w); },
    runBytes: (x, b, h, w) => { byBytes += b; return runner.runBytes!(x, b, h, w); },
    byteBuffer: (n) => runner.byteBuffer!(n), inputBuffer: (n) => runner.inputBuffer!(n), releaseOutput: (o) => runner.releaseOutput?.(o),
  };
  const viaBytes = await computeChmImage({ source, manifest: conv, runner: counting });
  // the first batches may go out as values, prepared before the runner was there; not the rest
  assert.ok(byBytes > byValues, `${byBytes} tiles as bytes, ${byValues} as values`);
  // the same runner without runBytes: every tile normalised on this thread
  const { runBytes: _b, byteBuffer: _bb, ...valuesOnly } = counting;
  byValues = 0;
  const viaValues = await computeChmImage({ source, manifest: conv, runner: { ...valuesOnly, manifest: runner.manifest, get computeMs() { return runner.computeMs; } } });
  assert.ok(byValues > 0);
  assert.deepEqual(viaBytes.bands[0], viaValues.bands[0]);
});

test('imagery more than 4x coarser than the model\'s GSD is refused before any window runs, saying the limit', async () => {
  assert.equal(MAX_GSD_RATIO, 4);
  const limit = MAX_GSD_RATIO * conv.input.gsd;
  // at the limit: runs
  const fine = join(dir, 'at-limit.tif');
  await writeRgb(fine, 40, 40, limit, utm, [500000, 5000000], texture(3));
  const img = await computeChmImage({ source: await openRaster(fine), manifest: conv });
  assert.ok(img.grid.width >= 40 * MAX_GSD_RATIO);
  // past it: refused, whether the engine, a job or the canopy layer asks
  const coarse = join(dir, 'too-coarse.tif');
  await writeRgb(coarse, 40, 40, 3, utm, [500000, 5000000], texture(3));
  const source = await openRaster(coarse);
  let windows = 0;
  await assert.rejects(computeChm(join(dir, 'coarse-chm.tif'), { source, manifest: conv, onProgress: () => { windows++; } }), (e: unknown) =>
    e instanceof InvalidInputError && /its 3 m pixels are too coarse for model 'local-conv' \(0\.6 m\): tree crowns cannot be resolved; it takes imagery up to 2\.4 m$/.test((e as Error).message));
  assert.equal(windows, 0);
  assert.equal(existsSync(join(dir, 'coarse-chm.tif')), false);
  assert.throws(() => checkImagery(source.metadata, conv, 'sat'), { message: /^raster 'sat': its 3 m pixels/ });
  assert.doesNotThrow(() => checkImagery({ bandCount: 3, gsd: limit }, conv));
  assert.throws(() => checkImagery({ bandCount: 1, gsd: limit }, conv), /needs an RGB raster \(3 bands\), this one has 1; a one-band raster of heights is used as a CHM when its file name holds "chm" or it is uploaded with \?role=chm \(forestmap process: --chm\)$/);
});
