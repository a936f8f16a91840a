/**
 * The image path of the pipeline: CHM blocks (server/chm/block.ts) through the work queue, trees
 * tiles reading across block borders, and the exports; compared with the whole-raster CHM engine
 * and whole-raster tree detection on the same image. Uses the hrch-mini test-fixture model
 * (random weights: the heights are meaningless, but equality is what is tested).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { booleanPointInPolygon } from '@turf/turf';
import { openRaster } from '../server/raster/source.ts';
import { ConflictError } from '../server/errors.ts';
import { resolveModel } from '../server/model/registry.ts';
import { CHM_COMPRESSION, computeChm, computeChmImage } from '../server/chm/engine.ts';
import { writeCog } from '../server/raster/cog.writer.ts';
import { chmCacheKeyOf, chmCachePath, recordCachedChm } from '../server/chm/cache.ts';
import { computeChmBlock } from '../server/chm/block.ts';
import { releaseInferenceRunners } from '../server/chm/inference.runner.ts';
import { detectTrees } from '../server/trees/detect.ts';
import { JobStore } from '../server/jobs/store.ts';
import { SqliteWorkQueue, type WorkUnit } from '../server/jobs/queue.ts';
import { parseExecuteRequest } from '../server/jobs/process.forest-map.ts';
import { fileVersion, planForestMap, runForestMap } from '../server/jobs/pipeline.ts';
import { defaultResources, executeUnit, type UnitSpec } from '../server/jobs/units.ts';
import { projector, WGS84 } from '../tiles/projection.ts';
import { makeScene, sceneRegion, type SceneFixture } from './jobs.fixture.ts';
import { rfc7946Problems } from './region.rfc7946.ts';

const modelDir = new URL('../models/hrch-mini/manifest.json', import.meta.url);
const skip = existsSync(modelDir) ? false : 'models/hrch-mini (test fixture model) is missing';
let scene: SceneFixture;

before(async () => { if (!skip) scene = await makeScene(300, 300, 0.5, 5); });
after(async () => { await releaseInferenceRunners(); scene?.cleanup(); });

test('CHM blocks equal the whole-raster CHM pixel for pixel', { skip }, async () => {
  const source = await openRaster(join(scene.dataDir, 'image.tif'));
  const manifest = await resolveModel('hrch-mini');
  const whole = await computeChmImage({ source, manifest });
  const W = whole.grid.width;
  for (const b of [{ x: 0, y: 0, width: 96, height: 96 }, { x: 96, y: 64, width: 96, height: 96 }, { x: W - 40, y: W - 50, width: 40, height: 50 }]) {
    const img = await computeChmBlock(b, { source, manifest });
    let differ = 0;
    for (let r = 0; r < b.height; r++) for (let c = 0; c < b.width; c++) {
      if (img.bands[0][r * b.width + c] !== whole.bands[0][(b.y + r) * W + b.x + c]) differ++;
    }
    assert.equal(differ, 0, `block ${JSON.stringify(b)}: ${differ} pixels differ`);
  }
});

test('an image job (blocks + tiles) equals whole-raster inference and detection in the region', { skip }, async () => {
  const region = sceneRegion(scene, [[0.05, 0.1], [0.9, 0.2], [0.7, 0.95], [0.1, 0.8]]);
  const raster = { id: 'image', path: join(scene.dataDir, 'image.tif'), version: fileVersion(join(scene.dataDir, 'image.tif'))!, role: 'image' as const };
  const plan = await planForestMap(parseExecuteRequest({ inputs: { raster: 'image', region, model: 'hrch-mini' } }), {
    resolveRaster: () => raster, tileSize: 32, blockSize: 64,
  });
  assert.equal(plan.ctx.chm.kind, 'blocks');
  const store = new JobStore(':memory:');
  const pathOf = (key: string) => queue.resultPath(key);
  const resources = defaultResources(pathOf);
  let executed = 0;
  const queue = new SqliteWorkQueue<UnitSpec>(store, join(scene.root, 'units'), (u, p, s) => { executed++; return executeUnit(u, p, s, resources); });
  const outDir = join(scene.root, 'out');
  const summary = await runForestMap({ plan, queue, pathOf, outDir, jobId: 'j', signal: new AbortController().signal });
  assert.ok(summary.units.chm > 4, `${summary.units.chm} CHM blocks`);
  assert.equal(executed, summary.units.chm + summary.units.trees);
  // a second job over the same region computes nothing: every unit's output is reused
  const again = await runForestMap({ plan, queue, pathOf, outDir: join(scene.root, 'out2'), jobId: 'j2', signal: new AbortController().signal });
  assert.equal(executed, summary.units.chm + summary.units.trees);
  assert.equal(readFileSync(join(scene.root, 'out2', 'trees.geojson'), 'utf8'), readFileSync(join(outDir, 'trees.geojson'), 'utf8'));
  assert.equal(again.statistics.tree_count, summary.statistics.tree_count);

  const source = await openRaster(raster.path);
  const whole = await computeChmImage({ source, manifest: await resolveModel('hrch-mini') });
  const toWgs = projector(whole.grid.crs, WGS84);
  const expected = detectTrees(whole).trees.filter((t) => booleanPointInPolygon(toWgs(t.x, t.y), region));
  const trees = JSON.parse(readFileSync(join(outDir, 'trees.geojson'), 'utf8'));
  assert.ok(expected.length > 10);
  assert.deepEqual(trees.features.map((f: any) => f.properties.id), expected.map((t) => t.id));
  assert.deepEqual(rfc7946Problems(trees, 'Point'), []);
  assert.deepEqual(rfc7946Problems(JSON.parse(readFileSync(join(outDir, 'crowns.geojson'), 'utf8')), 'Polygon').slice(0, 5), []);

  // chm.tif: the whole CHM's values at region pixels, nodata elsewhere
  const chm = await openRaster(join(outDir, 'chm.tif'));
  const img = await chm.readWindow({ x: 0, y: 0, width: chm.grid.width, height: chm.grid.height });
  const t = chm.grid.transform, wt = whole.grid.transform;
  const ox = Math.round((t[0] - wt[0]) / wt[1]), oy = Math.round((t[3] - wt[3]) / wt[5]);
  // CHM files hold heights to the storage quantum (engine.ts CHM_COMPRESSION)
  const perMetre = 1 / CHM_COMPRESSION.floatQuantum;
  const stored = (v: number) => Math.round(v * perMetre) / perMetre;
  let inside = 0, wrong = 0;
  for (let r = 0; r < chm.grid.height; r++) for (let c = 0; c < chm.grid.width; c++) {
    const p = toWgs(t[0] + (c + 0.5) * t[1], t[3] + (r + 0.5) * t[5]);
    const valid = img.mask ? img.mask[r * chm.grid.width + c] === 1 : true;
    if (!booleanPointInPolygon(p, region)) continue;
    inside++;
    if (!valid || img.bands[0][r * chm.grid.width + c] !== stored(whole.bands[0][(oy + r) * whole.grid.width + ox + c])) wrong++;
  }
  assert.ok(inside > 1000);
  assert.ok(wrong <= inside * 0.002, `${wrong} of ${inside} region pixels differ from the whole CHM`);

  // once the raster's whole CHM is cached (as POST /api/rasters/:id/canopy leaves it), a job reads it instead of inferring
  const varDir = join(scene.root, 'var');
  const manifest = await resolveModel('hrch-mini');
  mkdirSync(join(varDir, 'chm'), { recursive: true });
  // a CHM cached under the same name and version but other weights (another ONNX digest) is not used
  const otherWeights = chmCacheKeyOf(raster, { ...manifest, onnx: { ...manifest.onnx, sha256: '0'.repeat(64) } });
  await computeChm(chmCachePath(varDir, otherWeights), { source, manifest });
  await recordCachedChm(varDir, otherWeights);
  const otherPlan = await planForestMap(parseExecuteRequest({ inputs: { raster: 'image', region, model: 'hrch-mini' } }), { resolveRaster: () => raster, tileSize: 32, blockSize: 64, varDir });
  assert.equal(otherPlan.ctx.chm.kind, 'blocks');
  assert.notEqual(otherPlan.ctx.modelKey, `${manifest.name}@${otherWeights.modelVersion}`);
  const key = chmCacheKeyOf(raster, manifest);
  await computeChm(chmCachePath(varDir, key), { source, manifest });
  await recordCachedChm(varDir, key);
  const cachedPlan = await planForestMap(parseExecuteRequest({ inputs: { raster: 'image', region, model: 'hrch-mini' } }), { resolveRaster: () => raster, tileSize: 32, blockSize: 64, varDir });
  assert.equal(cachedPlan.ctx.chm.kind, 'file');
  const before = executed;
  const viaCache = await runForestMap({ plan: cachedPlan, queue, pathOf, outDir: join(scene.root, 'out3'), jobId: 'j3', signal: new AbortController().signal });
  assert.equal(viaCache.units.chm, 0);
  assert.equal(executed - before, viaCache.units.trees, 'only trees tiles ran');
  const viaCacheTrees = JSON.parse(readFileSync(join(scene.root, 'out3', 'trees.geojson'), 'utf8'));
  assert.deepEqual(viaCacheTrees.features.map((f: any) => f.properties.id), expected.map((t) => t.id));
  // a cached CHM on another grid than the plan's (an older build's, say) is not read as this one
  const grid = cachedPlan.ctx.chm.kind === 'file' ? (await openRaster(cachedPlan.ctx.chm.path)).grid : null;
  assert.ok(grid);
  const [x0, ...rest] = grid.transform;
  const shifted = { ...grid, transform: [x0 + 3 * rest[0], ...rest] as typeof grid.transform };
  const path = chmCachePath(varDir, key);
  rmSync(path);
  await writeCog(path, { grid: shifted, bands: 1, sampleType: 'float32', nodata: -9999 }, (w) => [new Float32Array(w.width * w.height).fill(12)]);
  const offGridPlan = await planForestMap(parseExecuteRequest({ inputs: { raster: 'image', region, model: 'hrch-mini' } }), { resolveRaster: () => raster, tileSize: 32, blockSize: 64, varDir });
  assert.equal(offGridPlan.ctx.chm.kind, 'blocks');
  store.close();
});

/**
 * An image job over `fractions` of the scene (the fixture model, 32 px tiles, 64 px blocks) on its
 * own queue in `unitsDir`; `unit` runs each unit (given the default executor to call).
 */
async function imageJob(opts: {
  fractions?: Array<[number, number]>; region?: unknown; unitsDir: string; id?: string; path?: string;
  unit?: (u: WorkUnit<UnitSpec>, outPath: string, signal: AbortSignal, execute: () => Promise<void>) => Promise<void>;
}) {
  const path = opts.path ?? join(scene.dataDir, 'image.tif'), id = opts.id ?? 'image';
  const raster = { id, path, version: fileVersion(path)!, role: 'image' as const };
  const region = opts.region ?? sceneRegion(scene, opts.fractions!);
  const plan = await planForestMap(parseExecuteRequest({ inputs: { raster: id, region, model: 'hrch-mini' } }), { resolveRaster: () => raster, tileSize: 32, blockSize: 64 });
  const store = new JobStore(':memory:');
  const pathOf = (key: string) => queue.resultPath(key);
  const resources = defaultResources(pathOf);
  const unit = opts.unit ?? ((_u, _p, _s, execute) => execute());
  const queue = new SqliteWorkQueue<UnitSpec>(store, opts.unitsDir, (u, p, s) => unit(u, p, s, () => executeUnit(u, p, s, resources)));
  return {
    run: (outDir: string, jobId: string) => runForestMap({ plan, queue, pathOf, outDir, jobId, signal: new AbortController().signal }),
    close: () => store.close(),
  };
}

test('a region of parts far apart computes the CHM near its parts only, and finds what whole-raster detection finds there', { skip }, async () => {
  const square = (x0: number, y0: number, x1: number) => sceneRegion(scene, [[x0, y0], [x1, y0], [x1, x1 - x0 + y0], [x0, x1 - x0 + y0]]).coordinates;
  const region = { type: 'MultiPolygon', coordinates: [square(0.04, 0.06, 0.2), square(0.78, 0.8, 0.95)] };
  let chmPixels = 0;
  const job = await imageJob({
    region, unitsDir: join(scene.root, 'units-parts'),
    unit: (u, _p, _s, execute) => {
      if (u.spec.kind === 'chm') chmPixels += u.spec.block.width * u.spec.block.height;
      return execute();
    },
  });
  const outDir = join(scene.root, 'out-parts');
  const summary = await job.run(outDir, 'jp');
  job.close();
  // the parts' box is most of the scene; each part with its tiles' halos is a few percent of it
  const source = await openRaster(join(scene.dataDir, 'image.tif'));
  const whole = await computeChmImage({ source, manifest: await resolveModel('hrch-mini') });
  const chm = await openRaster(join(outDir, 'chm.tif'));
  const box = chm.grid.width * chm.grid.height;
  assert.ok(box > 0.7 * whole.grid.width * whole.grid.height, `chm.tif spans the parts' box (${chm.grid.width} x ${chm.grid.height})`);
  // (the whole box, and its halo, before)
  assert.ok(chmPixels > 0 && chmPixels < 0.5 * box, `${chmPixels} CHM pixels computed for a box of ${box}`);
  const toWgs = projector(whole.grid.crs, WGS84);
  const expected = detectTrees(whole).trees.filter((t) => booleanPointInPolygon(toWgs(t.x, t.y), region as GeoJSON.MultiPolygon));
  const trees = JSON.parse(readFileSync(join(outDir, 'trees.geojson'), 'utf8'));
  assert.ok(expected.length > 4);
  assert.deepEqual(trees.features.map((f: any) => f.properties.id), expected.map((t) => t.id));
  assert.equal(summary.statistics.tree_count, expected.length);
  // inside the parts the CHM is the whole raster's; between them, nodata
  const img = await chm.readWindow({ x: 0, y: 0, width: chm.grid.width, height: chm.grid.height });
  const t = chm.grid.transform, wt = whole.grid.transform;
  const ox = Math.round((t[0] - wt[0]) / wt[1]), oy = Math.round((t[3] - wt[3]) / wt[5]);
  const stored = (v: number) => Math.round(v / CHM_COMPRESSION.floatQuantum) * CHM_COMPRESSION.floatQuantum;
  let inside = 0, wrong = 0, outside = 0;
  for (let r = 0; r < chm.grid.height; r++) for (let c = 0; c < chm.grid.width; c++) {
    const valid = img.mask ? img.mask[r * chm.grid.width + c] === 1 : true;
    if (!booleanPointInPolygon(toWgs(t[0] + (c + 0.5) * t[1], t[3] + (r + 0.5) * t[5]), region as GeoJSON.MultiPolygon)) {
      if (!valid) outside++;
      continue;
    }
    inside++;
    if (!valid || img.bands[0][r * chm.grid.width + c] !== stored(whole.bands[0][(oy + r) * whole.grid.width + ox + c])) wrong++;
  }
  assert.ok(inside > 500 && outside > box / 2, `${inside} pixels inside, ${outside} nodata outside`);
  assert.ok(wrong <= inside * 0.002, `${wrong} of ${inside} region pixels differ from the whole CHM`);
});

test('a CHM unit refuses to run on a model other than the one its job was planned with', { skip }, async () => {
  const path = join(scene.dataDir, 'image.tif');
  const raster = { id: 'image', path, version: fileVersion(path)!, role: 'image' as const };
  const plan = await planForestMap(parseExecuteRequest({ inputs: { raster: 'image', region: sceneRegion(scene, [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]]), model: 'hrch-mini' } }), { resolveRaster: () => raster, tileSize: 32, blockSize: 64 });
  const out = join(scene.root, 'mismatch.bin');
  const unit = (modelKey: string | null): WorkUnit<UnitSpec> => ({ key: 'k', spec: { kind: 'chm', ctx: { ...plan.ctx, modelKey }, block: { x: 0, y: 0, width: 64, height: 64 } } });
  const resources = defaultResources(() => out);
  await assert.rejects(executeUnit(unit('hrch-mini@1+onnx.000000000000'), out, new AbortController().signal, resources),
    (e: unknown) => e instanceof ConflictError && /this worker's model is hrch-mini@1\+onnx\.[0-9a-f]{12}, the job was planned with hrch-mini@1\+onnx\.000000000000/.test((e as Error).message));
  assert.equal(existsSync(out), false);
  await executeUnit(unit(plan.ctx.modelKey), out, new AbortController().signal, resources);
  assert.ok(existsSync(out));
});

test('a trees stage that fails fails the job only once the CHM export beside it has stopped writing', { skip }, async () => {
  const outDir = join(scene.root, 'out-failing');
  // the CHM blocks run; a trees tile fails while the region's COG is being written (the COG
  // writer works in a temporary folder beside its file until it is done)
  const writing = () => readdirSync(outDir).filter((f) => f.includes('.tmp-'));
  let failedWhileWriting = false;
  const job = await imageJob({
    fractions: [[0.05, 0.05], [0.95, 0.05], [0.95, 0.95], [0.05, 0.95]], unitsDir: join(scene.root, 'units-failing'),
    unit: async (u, _p, _s, execute) => {
      if (u.spec.kind !== 'trees') return execute();
      for (let i = 0; i < 2000 && !writing().length; i++) await new Promise((r) => setImmediate(r));
      failedWhileWriting = writing().length > 0;
      throw new Error('detector exploded');
    },
  });
  mkdirSync(outDir, { recursive: true });
  await assert.rejects(job.run(outDir, 'jf'), /detector exploded/);
  assert.ok(failedWhileWriting, 'the trees tile failed while the COG was being written');
  // and when the job's failure is reported, the exports have stopped: nothing writes there any
  // more, and the GeoJSON, written row by row as tiles finish, left neither a file nor a temporary
  assert.deepEqual(writing(), []);
  assert.deepEqual(readdirSync(outDir).filter((f) => f.includes('geojson')), []);
  job.close();
});

test('a job clears what a killed run of it left half-written in its folder, and nothing else', { skip }, async () => {
  const job = await imageJob({ fractions: [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]], unitsDir: join(scene.root, 'units-stale') });
  const outDir = join(scene.root, 'out-stale');
  // what the writers leave when the process dies mid-export (names as cog.writer, GeoJsonFileWriter and writeFileAtomic make them)
  mkdirSync(join(outDir, '.chm.tif.tmp-Xy12ab'), { recursive: true });
  writeFileSync(join(outDir, '.chm.tif.tmp-Xy12ab', 'level0.bin'), 'partial');
  for (const f of ['trees.geojson.4242.tmp', 'crowns.geojson.4242.tmp', 'stats.json.4242.k3j2.tmp', 'notes.tmp', 'chm.tif.bak']) writeFileSync(join(outDir, f), 'x');
  await job.run(outDir, 'js');
  assert.deepEqual(readdirSync(outDir).sort(), ['chm.tif', 'chm.tif.bak', 'crowns.geojson', 'notes.tmp', 'stats.json', 'trees.geojson']);
  job.close();
});

test('a raster removed while its job runs fails the job with that reason, not with what a stage tripped over', { skip }, async () => {
  const path = join(scene.root, 'doomed.tif');
  copyFileSync(join(scene.dataDir, 'image.tif'), path);
  const unitsDir = join(scene.root, 'units-doomed');
  // as DELETE /api/rasters/:id does mid-run: the file goes, and so do the raster's unit outputs
  let removed = false;
  const job = await imageJob({
    fractions: [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]], unitsDir, id: 'doomed', path,
    unit: (u, _p, _s, execute) => {
      if (u.spec.kind === 'trees' && !removed) {
        removed = true;
        rmSync(path);
        for (const f of readdirSync(unitsDir)) if (f.endsWith('.bin')) rmSync(join(unitsDir, f));
      }
      return execute();
    },
  });
  await assert.rejects(
    job.run(join(scene.root, 'out-doomed'), 'jd'),
    (err: unknown) => err instanceof ConflictError && /raster 'doomed' was removed while the job ran; submit the job again/.test(err.message),
  );
  assert.ok(removed);
  job.close();
});
