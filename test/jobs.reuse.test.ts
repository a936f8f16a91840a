/**
 * Reuse of the server's tree stores by forest-map jobs (issue #8), through real HTTP on 127.0.0.1:
 * a CHM raster's trees are computed in the background (256 px tiles); a job with the same tree
 * options then takes its tiles' trees from that store instead of detecting them, and its results
 * are byte for byte those of a job that detects everything (a job service with no tree store, in
 * its own var folder). Other options, a replaced CHM file, or heights beyond what the halos cover
 * never use the store.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { AppContext } from '../server/http/context.ts';
import { treeServiceFor } from '../server/http/routes/trees.ts';
import { JobService, loadJobsConfig, type JobResultSummary } from '../server/jobs/service.ts';
import { jobServiceFor } from '../server/jobs/service.ts';
import { defaultResources, executeUnit, readTreesUnit, reusableStore, treesUnit } from '../server/jobs/units.ts';
import { unpackAll } from '../server/trees/packed.ts';
import type { ForestMapPlan } from '../server/jobs/pipeline.ts';
import { openRaster } from '../server/raster/source.ts';
import type { TreeStore } from '../server/trees/store.ts';
import { http, makeScene, sceneRegion, serveScene, waitForJob, type SceneFixture, type SceneServer } from './jobs.fixture.ts';

let scene: SceneFixture;
let app: SceneServer;
let ctx: AppContext;
let base = '';
/** The same jobs without any tree store: everything detected. */
let reference: JobService;
const saved = { ...process.env };

before(async () => {
  scene = await makeScene(400, 400, 0.5, 5);
  // job tiles of 80 px against the store's 256 px tiles: different tilings must give the same trees
  Object.assign(process.env, { JOBS_TILE_SIZE: '80', JOBS_SYNC_MAX_KM2: '0' });
  app = await serveScene(scene);
  ({ ctx, base } = app);
  const catalog = ctx.catalog;
  reference = new JobService({ varDir: mkdtempSync(join(scene.root, 'var-no-store-')), catalog, config: loadJobsConfig() });
});

after(async () => {
  await reference.close();
  await app.close();
  process.env = saved;
  scene.cleanup();
});

interface Run { summary: JobResultSummary; files: Record<string, string> }

async function viaHttp(inputs: Record<string, unknown>): Promise<Run> {
  const post = await http(base, 'POST', '/processes/forest-map/execution', { inputs }, { Prefer: 'respond-async' });
  assert.equal(post.status, 201, post.text);
  const done = await waitForJob(base, post.json.jobID);
  assert.equal(done.status, 'successful', done.message);
  const results = (await http(base, 'GET', `/jobs/${done.jobID}/results`)).json;
  const files: Record<string, string> = {};
  for (const k of ['trees', 'crowns', 'stats']) files[k] = (await http(base, 'GET', results[k].href)).text;
  return { summary: jobServiceFor(ctx).runner.get(done.jobID).result as JobResultSummary, files };
}

/** A job run on a job service of its own (no HTTP), to its end. */
async function runOn(service: JobService, inputs: Record<string, unknown>): Promise<Run> {
  const job = service.submit(await service.plan({ inputs }));
  const done = await service.runner.wait(job.id);
  assert.equal(done.status, 'successful', done.message);
  const summary = done.result as JobResultSummary;
  const files: Record<string, string> = {};
  for (const k of ['trees', 'crowns', 'stats']) files[k] = readFileSync(service.resultFile(job.id, summary.outputs[k]), 'utf8');
  return { summary, files };
}

const withoutStore = (inputs: Record<string, unknown>) => runOn(reference, inputs);

function assertSameResults(got: Run, want: Run): void {
  const a = JSON.parse(got.files.trees), b = JSON.parse(want.files.trees);
  assert.ok(b.features.length > 50, `${b.features.length} trees`);
  assert.deepEqual(a.features.map((f: any) => f.id), b.features.map((f: any) => f.id), 'same tree ids, same order');
  assert.deepEqual(a, b, 'same trees: heights, crown sizes, positions');
  assert.equal(got.files.trees, want.files.trees);
  assert.equal(got.files.crowns, want.files.crowns, 'same crown polygons');
  assert.deepEqual(JSON.parse(got.files.stats).statistics, JSON.parse(want.files.stats).statistics);
}

test('the CHM raster\'s trees are computed in the background and record how', async () => {
  await treeServiceFor(ctx).drained();
  assert.equal(treeServiceFor(ctx).status('chm')?.state, 'done');
  const store = (await treeServiceFor(ctx).store('chm'))!;
  assert.ok(store.hasNativeCrowns);
  const src = store.meta.source as Record<string, any>;
  assert.equal(src.version, ctx.catalog.get('chm').version);
  assert.equal(src.options.ws, '0.07*h+3');
  assert.equal(src.options.hmin, 2);
  assert.equal(src.tileSize, 256);
  // the scene's tallest trees pass the 60 m requiredHalo assumes, yet not by enough to widen it
  assert.ok(typeof src.maxHeight === 'number' && src.maxHeight > 5, `max height ${src.maxHeight}`);
});

test('a job with the server\'s tree options takes its trees from the store, with the same results', async () => {
  await treeServiceFor(ctx).drained();
  const reused = await viaHttp({ raster: 'chm' });
  assert.equal(reused.summary.units.trees, 25);
  assert.equal(reused.summary.units.treesFromStore, reused.summary.units.trees, 'every tile served from the store');
  const detected = await withoutStore({ raster: 'chm' });
  assert.equal(detected.summary.units.treesFromStore, 0);
  assertSameResults(reused, detected);
});

test('an irregular region (cores clipped to it, off the lattice) is served from the store, same results', async () => {
  const region = sceneRegion(scene, [[0.07, 0.11], [0.83, 0.05], [0.95, 0.63], [0.5, 0.93], [0.13, 0.71]]);
  const reused = await viaHttp({ raster: 'chm', region, ws: '0.07*h+3', hmin: 2, algorithm: 'dalponte' });
  assert.ok(reused.summary.units.treesFromStore > 0 && reused.summary.units.treesFromStore === reused.summary.units.trees);
  assertSameResults(reused, await withoutStore({ raster: 'chm', region }));
});

test('a job with other tree options detects its trees', async () => {
  const other = await viaHttp({ raster: 'chm', hmin: 5 });
  assert.ok(other.summary.units.trees > 0);
  assert.equal(other.summary.units.treesFromStore, 0);
  assertSameResults(other, await withoutStore({ raster: 'chm', hmin: 5 }));
});

test('an image job reading a cached CHM file takes its trees from that file\'s store (the `<id>-chm` raster)', async () => {
  // as the canopy service leaves it: the CHM file under varDir/chm, registered as '<id>-chm'
  const dir = join(scene.varDir, 'chm');
  mkdirSync(dir, { recursive: true });
  const cached = join(dir, 'image-cached.tif');
  copyFileSync(join(scene.dataDir, 'chm.tif'), cached);
  await ctx.catalog.register(cached, { id: 'image-chm', role: 'chm', sourceId: 'image' });
  await treeServiceFor(ctx).drained();
  assert.equal(treeServiceFor(ctx).status('image-chm')?.state, 'done');

  const chmPlan = await reference.plan({ inputs: { raster: 'chm' } });
  const image = ctx.catalog.get('image');
  const unitCtx = {
    ...chmPlan.ctx, raster: { id: image.id, path: image.path, version: image.version, role: 'image' as const },
    model: 'm', modelKey: 'm@1', chm: { kind: 'file' as const, path: cached, version: `${image.version}/m@1` },
  };
  const h = unitCtx.halo;
  const core = { x: 160, y: 0, width: 80, height: 80 };
  const unit = treesUnit(unitCtx, core, { x: core.x - h, y: 0, width: core.width + 2 * h, height: core.height + h });
  const noBlocks = () => { throw new Error('no blocks'); };
  const run = async (resources: ReturnType<typeof defaultResources>, name: string) => {
    const out = join(scene.root, name);
    await executeUnit(unit, out, new AbortController().signal, resources);
    const { trees, from } = readTreesUnit(out);
    return { ...unpackAll(trees), from };
  };
  const served = await run(defaultResources(noBlocks, () => treeServiceFor(ctx)), 'file-store.bin');
  const detected = await run(defaultResources(noBlocks), 'file-detect.bin');
  assert.equal(served.from, 'tree-store');
  assert.equal(detected.from, undefined);
  assert.ok(detected.trees.length > 3);
  assert.deepEqual(served.trees, detected.trees);
  assert.deepEqual(served.crowns, detected.crowns);
});

test('nothing stale or inexact is reused: replaced file, other options, heights beyond the halos', async () => {
  const store = (await treeServiceFor(ctx).store('chm'))!;
  const plan: ForestMapPlan = await reference.plan({ inputs: { raster: 'chm' } });
  const unitCtx = plan.ctx;
  const path = join(scene.dataDir, 'chm.tif');
  const grid = (await openRaster(path)).grid;
  const h = unitCtx.halo;
  const core = { x: 100, y: 120, width: 90, height: 70 };
  const read = { x: core.x - h, y: core.y - h, width: core.width + 2 * h, height: core.height + 2 * h };
  const unit = treesUnit(unitCtx, core, read);
  const out = join(scene.root, 'unit.bin');
  const resources = defaultResources(() => { throw new Error('no blocks'); }, () => ({ storeForFile: async () => store }));
  const run = async () => {
    await executeUnit(unit, out, new AbortController().signal, resources);
    const { trees, from } = readTreesUnit(out);
    return { ...unpackAll(trees), from };
  };

  assert.equal(reusableStore(store, unitCtx, grid, path), null);
  const fromStore = await run();
  assert.equal(fromStore.from, 'tree-store');
  assert.ok(fromStore.trees.length > 3);
  for (const t of fromStore.trees) {
    const x = t.id % grid.width, y = Math.floor(t.id / grid.width);
    assert.ok(x >= core.x && x < core.x + core.width && y >= core.y && y < core.y + core.height, `tree ${t.id} has its top in the core`);
  }

  assert.match(reusableStore(store, { ...unitCtx, trees: { ...unitCtx.trees, hmin: 5 } }, grid, path)!, /other tree options/);
  assert.match(reusableStore(store, { ...unitCtx, trees: { ...unitCtx.trees, ws: 3 } }, grid, path)!, /other tree options/);
  const tall = Object.create(store, { meta: { value: { ...store.meta, source: { ...store.meta.source, maxHeight: 95 } } } }) as TreeStore;
  assert.match(reusableStore(tall, unitCtx, grid, path)!, /beyond what the halos cover/);

  // the CHM file changes (new version): the store is stale, the unit detects, and gets the same trees
  const st = statSync(path);
  utimesSync(path, st.atime, new Date(st.mtimeMs + 5000));
  assert.match(reusableStore(store, unitCtx, grid, path)!, /version/);
  const detected = await run();
  assert.equal(detected.from, undefined);
  assert.deepEqual(detected.trees, fromStore.trees);
  assert.deepEqual(detected.crowns, fromStore.crowns);
});

test('a job service keeps its unit cache within its budget: a finished job\'s units go when the next job finishes, and the region computed again gives the same trees', async () => {
  const varDir = mkdtempSync(join(scene.root, 'var-small-cache-'));
  // a budget of one byte: only the units of waiting and running jobs may stay
  const service = new JobService({ varDir, catalog: ctx.catalog, config: { ...loadJobsConfig(), unitCacheBytes: 1 } });
  try {
    const unitsDir = join(varDir, 'units');
    const bins = () => new Set(readdirSync(unitsDir).filter((f) => f.endsWith('.bin')));
    const run = async (region: object) => (await runOn(service, { raster: 'image', region })).files.trees;
    const west = sceneRegion(scene, [[0.05, 0.1], [0.4, 0.1], [0.4, 0.9], [0.05, 0.9]]);
    const east = sceneRegion(scene, [[0.6, 0.1], [0.95, 0.1], [0.95, 0.9], [0.6, 0.9]]);
    const first = await run(west);
    assert.ok(JSON.parse(first).features.length > 10);
    const westUnits = bins();
    assert.ok(westUnits.size > 1, 'the pass after a job spares its units while it is still running');
    await run(east);
    // the pass at the end of the east job: the west job has finished, the east one has not yet
    const deadline = Date.now() + 10_000;
    while ([...westUnits].some((f) => bins().has(f)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual([...westUnits].filter((f) => bins().has(f)), [], "the west job's units were evicted");
    assert.ok(bins().size > 1, "the east job's units stayed");
    assert.equal(await run(west), first, 'the evicted region computed again: the same trees, byte for byte');
  } finally {
    await service.close();
  }
});
