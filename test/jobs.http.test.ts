/**
 * OGC API - Processes end to end through real HTTP on 127.0.0.1: the async flow on a generated
 * scene's TRUE chm.tif (registered as a CHM raster, so no model is needed) with the statistics
 * checked against independent computations and the scene's truth, the sync flow, cancellation,
 * the job limit, and every invalid input answered 4xx with a JSON reason.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { area as turfArea, booleanClockwise, booleanPointInPolygon } from '@turf/turf';
import type { AppContext } from '../server/http/context.ts';
import { openRaster } from '../server/raster/source.ts';
import { detectTrees } from '../server/trees/detect.ts';
import { projector, WGS84 } from '../tiles/projection.ts';
import { rfc7946Problems } from './region.rfc7946.ts';
import { http, makeScene, sceneRegion, serveScene, waitForJob, type SceneFixture, type SceneServer } from './jobs.fixture.ts';
import { writeCog } from '../server/raster/cog.writer.ts';
import { SCENE_CRS } from '../server/scene/generate.ts';

let scene: SceneFixture;
let app: SceneServer;
let ctx: AppContext;
let base = '';
const saved = { ...process.env };

/** A CHM big enough that a job on it runs for seconds: keeps job slots busy deterministically. */
async function writeBigChm(dir: string): Promise<void> {
  const size = 1600;
  const grid = { width: size, height: size, transform: [560000, 0.5, 0, 4900000, 0, -0.5] as const, crs: SCENE_CRS };
  await writeCog(join(dir, 'big-chm.tif'), { grid, bands: 1, sampleType: 'float32', tileSize: 256 }, (w) => {
    const v = new Float32Array(w.width * w.height);
    for (let r = 0; r < w.height; r++) for (let c = 0; c < w.width; c++) v[r * w.width + c] = 12 + 8 * Math.sin((c * Math.PI) / 9) * Math.sin(((w.y + r) * Math.PI) / 9);
    return [v];
  });
}

/** A CHM of 20 x 20 km in 10 m pixels: room for regions whose box or tiles outgrow their area. */
const COARSE = { x: 560000, y: 4900000, pixel: 10, size: 2000 };
async function writeCoarseChm(dir: string): Promise<void> {
  const grid = { width: COARSE.size, height: COARSE.size, transform: [COARSE.x, COARSE.pixel, 0, COARSE.y, 0, -COARSE.pixel] as const, crs: SCENE_CRS };
  await writeCog(join(dir, 'coarse-chm.tif'), { grid, bands: 1, sampleType: 'float32', tileSize: 256 }, (w) => [new Float32Array(w.width * w.height).fill(15)]);
}

/** A WGS84 polygon of a rectangle in the scene's CRS (metres). */
function utmRect(x: number, y: number, width: number, height: number): number[][][] {
  const toWgs = projector(SCENE_CRS, WGS84);
  return [[[x, y], [x + width, y], [x + width, y + height], [x, y + height], [x, y]].map(([e, n]) => toWgs(e, n))];
}

before(async () => {
  scene = await makeScene();
  await writeBigChm(scene.dataDir);
  await writeCoarseChm(scene.dataDir);
  // a terrain model named as a CHM: elevations of 300-400 m, which tree detection must not take for heights
  await writeCog(join(scene.dataDir, 'elevation-chm.tif'), { grid: { width: 64, height: 64, transform: [560000, 0.5, 0, 4900000, 0, -0.5], crs: SCENE_CRS }, bands: 1, sampleType: 'float32', tileSize: 64 },
    (w) => [Float32Array.from({ length: w.width * w.height }, (_, i) => 300 + (i % w.width) + (w.y + Math.floor(i / w.width)))]);
  Object.assign(process.env, {
    JOBS_TILE_SIZE: '32', JOBS_MAX_RUNNING: '1', JOBS_MAX_QUEUED: '1', JOBS_SYNC_MAX_KM2: '0.01',
    REGION_MAX_KM2: '1', JOBS_MAX_BODY_KB: '64',
  });
  app = await serveScene(scene);
  ({ ctx, base } = app);
});

after(async () => {
  await app.close();
  process.env = saved;
  scene.cleanup();
});

test('the process is listed and described', async () => {
  const list = await http(base, 'GET', '/processes');
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.processes.map((p: { id: string }) => p.id), ['forest-map']);
  const d = await http(base, 'GET', '/processes/forest-map');
  assert.equal(d.status, 200);
  for (const k of ['raster', 'region', 'bbox', 'model', 'algorithm', 'ws', 'hmin']) assert.ok(d.json.inputs[k], `input ${k} described`);
  for (const k of ['stats', 'trees', 'crowns', 'chm']) assert.ok(d.json.outputs[k], `output ${k} described`);
  const c = await http(base, 'GET', '/conformance');
  assert.ok(c.json.conformsTo.includes('http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core'));
});

test('the landing page: JSON for OGC clients (?f=json or Accept), the web map for browsers', async () => {
  for (const [path, headers] of [['/?f=json', {}], ['/', { Accept: 'application/json' }]] as const) {
    const r = await http(base, 'GET', path, undefined, headers);
    assert.equal(r.status, 200, `${path} ${JSON.stringify(headers)}`);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    const rels = Object.fromEntries(r.json.links.map((l: { rel: string; href: string }) => [l.rel, l.href]));
    // each link the landing page gives answers
    for (const rel of ['service-desc', 'conformance', 'http://www.opengis.net/def/rel/ogc/1.0/processes', 'http://www.opengis.net/def/rel/ogc/1.0/job-list']) {
      assert.ok(rels[rel], `link ${rel}`);
      assert.equal((await http(base, 'GET', rels[rel])).status, 200, `${rel} -> ${rels[rel]}`);
    }
  }
  const browser = await http(base, 'GET', '/', undefined, { Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' });
  assert.equal(browser.status, 200);
  assert.match(browser.text, /<!doctype html>/i);
  assert.match((await http(base, 'GET', '/?f=html', undefined, { Accept: 'application/json' })).text, /<!doctype html>/i);
  const bad = await http(base, 'GET', '/?f=xml');
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /'f' must be json or html/);
});

test('errors are also OGC API exception documents (type, title, detail)', async () => {
  const process = await http(base, 'GET', '/processes/no-such');
  assert.equal(process.status, 404);
  assert.equal(process.json.type, 'http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/no-such-process');
  assert.equal(process.json.title, 'Not Found');
  assert.equal(process.json.detail, process.json.error);
  const job = await http(base, 'GET', '/jobs/00000000-0000-0000-0000-000000000000');
  assert.equal(job.status, 404);
  assert.equal(job.json.type, 'http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/no-such-job');
  const body = await http(base, 'POST', '/processes/forest-map/execution', '{"inputs": ');
  assert.equal(body.status, 400);
  assert.equal(body.json.type, 'about:blank');
  assert.equal(body.json.title, 'Bad Request');
});

test('async job on a true CHM: results valid, statistics equal independent computations and truth', async () => {
  // an irregular pentagon inside the scene, crossing tile borders
  const region = sceneRegion(scene, [[0.1, 0.15], [0.8, 0.08], [0.92, 0.6], [0.55, 0.9], [0.12, 0.7]]);
  const ws = 2;
  const post = await http(base, 'POST', '/processes/forest-map/execution', { inputs: { raster: 'chm', region, ws } }, { Prefer: 'respond-async' });
  assert.equal(post.status, 201, post.text);
  assert.match(post.headers.get('location') ?? '', /^\/jobs\/[0-9a-f-]{36}$/);
  const id = post.json.jobID;
  const done = await waitForJob(base, id);
  assert.equal(done.status, 'successful', done.message);
  assert.equal(done.progress, 100);

  const results = await http(base, 'GET', `/jobs/${id}/results`);
  assert.equal(results.status, 200);
  for (const k of ['trees', 'crowns', 'chm', 'stats']) assert.match(results.json[k].href, new RegExp(`^/jobs/${id}/results/`));
  const trees = (await http(base, 'GET', results.json.trees.href)).json;
  const crowns = (await http(base, 'GET', results.json.crowns.href)).json;
  const stats = (await http(base, 'GET', results.json.stats.href)).json.statistics;
  const tif = await fetch(base + results.json.chm.href);
  assert.equal(tif.status, 200);
  const bytes = new Uint8Array(await tif.arrayBuffer());
  assert.deepEqual([...bytes.subarray(0, 2)], [0x49, 0x49], 'chm.tif is a little-endian TIFF');

  assert.deepEqual(rfc7946Problems(trees, 'Point'), []);
  assert.deepEqual(rfc7946Problems(crowns, 'Polygon').slice(0, 5), []);

  // area: exactly the geodesic area of the region as given
  assert.ok(Math.abs(stats.area_m2 - turfArea(region)) < 1e-3, `${stats.area_m2} vs ${turfArea(region)}`);

  // trees: exactly the whole-raster detection's trees whose tops are in the region, in id order
  const src = await openRaster(join(scene.dataDir, 'chm.tif'));
  const whole = await src.readWindow({ x: 0, y: 0, width: src.grid.width, height: src.grid.height });
  const toWgs = projector(src.grid.crs, WGS84);
  const expected = detectTrees(whole, { ws }).trees.filter((t) => booleanPointInPolygon(toWgs(t.x, t.y), region));
  assert.deepEqual(trees.features.map((f: any) => f.properties.id), expected.map((t) => t.id));
  assert.equal(stats.tree_count, expected.length);
  const h = expected.map((t) => t.height).sort((a, b) => a - b);
  assert.equal(stats.tree_height_m.max, Math.round(h[h.length - 1] * 1000) / 1000);
  assert.equal(stats.height_histogram.counts.reduce((a: number, b: number) => a + b, 0), expected.length);

  // against the scene's truth: visible trees whose apex is in the region, within the detector's accuracy
  const truth = JSON.parse(readFileSync(join(scene.dataDir, 'trees.geojson'), 'utf8')).features
    .filter((f: any) => booleanPointInPolygon(f.geometry.coordinates, region));
  const rel = Math.abs(stats.tree_count - truth.length) / truth.length;
  console.log(`# region ${(stats.area_ha).toFixed(3)} ha: ${stats.tree_count} trees found, ${truth.length} true; cover>2m ${stats.canopy_cover_2m}`);
  assert.ok(rel < 0.15, `tree count ${stats.tree_count} vs ${truth.length} true trees (${(rel * 100).toFixed(1)}%)`);

  // canopy cover: pixel centres tested with turf in WGS84 (an independent point-in-polygon)
  const band = whole.bands[0];
  let n = 0, above2 = 0, above5 = 0;
  const t = src.grid.transform;
  for (let r = 0; r < src.grid.height; r++) for (let c = 0; c < src.grid.width; c++) {
    const p = toWgs(t[0] + (c + 0.5) * t[1], t[3] + (r + 0.5) * t[5]);
    if (!booleanPointInPolygon(p, region)) continue;
    const v = band[r * src.grid.width + c];
    n++; if (v > 2) above2++; if (v > 5) above5++;
  }
  assert.ok(Math.abs(stats.chm_pixels - n) <= n * 0.002, `${stats.chm_pixels} vs ${n} pixels`);
  assert.ok(Math.abs(stats.canopy_cover_2m - above2 / n) < 0.002, `cover 2 m ${stats.canopy_cover_2m} vs ${above2 / n}`);
  assert.ok(Math.abs(stats.canopy_cover_5m - above5 / n) < 0.002, `cover 5 m ${stats.canopy_cover_5m} vs ${above5 / n}`);
  assert.ok(Math.abs(stats.trees_per_ha - expected.length / (turfArea(region) / 1e4)) < 0.01);
  assert.equal(stats.data_coverage, 1, 'the raster covers the whole region');
  assert.equal(stats.data_area_ha, stats.area_ha);
});

test('a region reaching past the raster: data_coverage says how much of it has data, and trees per ha is over that part', async () => {
  // the right half of the rectangle lies east of the scene
  const region = sceneRegion(scene, [[0.6, 0.2], [1.4, 0.2], [1.4, 0.45], [0.6, 0.45]]);
  const post = await http(base, 'POST', '/processes/forest-map/execution', { inputs: { raster: 'chm', region } }, { Prefer: 'respond-async' });
  assert.equal(post.status, 201, post.text);
  const done = await waitForJob(base, post.json.jobID);
  assert.equal(done.status, 'successful', done.message);
  const results = await http(base, 'GET', `/jobs/${post.json.jobID}/results`);
  const stats = (await http(base, 'GET', results.json.stats.href)).json.statistics;
  assert.ok(Math.abs(stats.area_m2 - turfArea(region)) < 1e-3, 'area_ha stays the region\'s own');
  assert.ok(Math.abs(stats.data_coverage - 0.5) < 0.01, `data_coverage ${stats.data_coverage}`);
  assert.ok(Math.abs(stats.data_area_ha - stats.area_ha * stats.data_coverage) < 1e-5);
  // the pixels with data, counted on their own, make the data area
  assert.ok(Math.abs(stats.chm_pixels * stats.chm_pixel_area_m2 / 1e4 - stats.data_area_ha) < stats.data_area_ha * 0.01);
  assert.ok(stats.tree_count > 0);
  assert.ok(Math.abs(stats.trees_per_ha - stats.tree_count / stats.data_area_ha) < 0.01, `${stats.trees_per_ha} trees/ha`);
});

test('a FeatureCollection of stands: each stand gets the same statistics over its own polygons, and they add up to the region\'s', async () => {
  // three stands as a forester's layer holds them: ids, properties, one of them two polygons
  const west = sceneRegion(scene, [[0.1, 0.1], [0.45, 0.1], [0.45, 0.5], [0.1, 0.5]]);
  const east = sceneRegion(scene, [[0.45, 0.1], [0.9, 0.1], [0.9, 0.5], [0.45, 0.5]]);
  const split = { type: 'MultiPolygon', coordinates: [sceneRegion(scene, [[0.1, 0.6], [0.3, 0.6], [0.3, 0.9], [0.1, 0.9]]).coordinates, sceneRegion(scene, [[0.6, 0.6], [0.9, 0.6], [0.9, 0.9], [0.6, 0.9]]).coordinates] };
  const stands = [
    { type: 'Feature', id: 'W-1', properties: { species: 'pine' }, geometry: west },
    { type: 'Feature', id: 7, properties: { species: 'oak', planted: 1988 }, geometry: east },
    { type: 'Feature', properties: null, geometry: split },
  ];
  const post = await http(base, 'POST', '/processes/forest-map/execution', { inputs: { raster: 'chm', ws: 2, region: { type: 'FeatureCollection', features: stands } } }, { Prefer: 'respond-async' });
  assert.equal(post.status, 201, post.text);
  const done = await waitForJob(base, post.json.jobID);
  assert.equal(done.status, 'successful', done.message);
  const results = await http(base, 'GET', `/jobs/${post.json.jobID}/results`);
  const doc = (await http(base, 'GET', results.json.stats.href)).json;
  const all = doc.statistics;
  assert.deepEqual(results.json.statistics.parts, all.parts, 'the results document carries the parts too');
  assert.deepEqual(all.parts.map((p: any) => [p.feature, p.id, p.properties]), [[0, 'W-1', { species: 'pine' }], [1, 7, { species: 'oak', planted: 1988 }], [2, null, null]]);
  assert.ok(doc.definitions.parts);

  const src = await openRaster(join(scene.dataDir, 'chm.tif'));
  const whole = await src.readWindow({ x: 0, y: 0, width: src.grid.width, height: src.grid.height });
  const toWgs = projector(src.grid.crs, WGS84);
  const found = detectTrees(whole, { ws: 2 }).trees;
  all.parts.forEach((part: any, k: number) => {
    const geometry = stands[k].geometry as GeoJSON.Polygon | GeoJSON.MultiPolygon;
    assert.ok(Math.abs(part.statistics.area_m2 - turfArea(geometry)) < 1e-3, `stand ${k} area`);
    const expected = found.filter((t) => booleanPointInPolygon(toWgs(t.x, t.y), geometry));
    assert.ok(expected.length > 3, `stand ${k} has trees`);
    assert.equal(part.statistics.tree_count, expected.length, `stand ${k} trees`);
    // its pixels, tested with turf in WGS84
    let n = 0, above2 = 0;
    const t = src.grid.transform;
    for (let r = 0; r < src.grid.height; r++) for (let c = 0; c < src.grid.width; c++) {
      if (!booleanPointInPolygon(toWgs(t[0] + (c + 0.5) * t[1], t[3] + (r + 0.5) * t[5]), geometry)) continue;
      n++; if (whole.bands[0][r * src.grid.width + c] > 2) above2++;
    }
    assert.ok(Math.abs(part.statistics.chm_pixels - n) <= n * 0.002 + 1, `stand ${k}: ${part.statistics.chm_pixels} vs ${n} pixels`);
    assert.ok(Math.abs(part.statistics.canopy_cover_2m - above2 / n) < 0.003, `stand ${k} cover`);
  });
  const sum = (f: (s: any) => number) => all.parts.reduce((a: number, p: any) => a + f(p.statistics), 0);
  assert.equal(sum((s) => s.tree_count), all.tree_count);
  assert.equal(sum((s) => s.chm_pixels), all.chm_pixels);
  assert.ok(Math.abs(sum((s) => s.area_m2) - all.area_m2) < 0.01);
  // one Feature, or a bare geometry, has no parts
  const one = await http(base, 'POST', '/processes/forest-map/execution', { inputs: { raster: 'chm', region: { type: 'FeatureCollection', features: [stands[0]] } } });
  assert.equal(one.status, 200, one.text);
  assert.equal(one.json.statistics.parts, undefined);
});

test('a small region without Prefer runs synchronously: 200 with the results', async () => {
  const region = sceneRegion(scene, [[0.3, 0.3], [0.45, 0.3], [0.45, 0.45], [0.3, 0.45]]);
  const r = await http(base, 'POST', '/processes/forest-map/execution', { inputs: { raster: 'chm', region } });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.statistics.tree_count > 0);
  assert.ok(r.json.trees.href);
  const feats = (await http(base, 'GET', r.json.trees.href)).json.features;
  assert.equal(feats.length, r.json.statistics.tree_count);
  // the outputs asked for with OGC transmission modes, and nothing else
  const some = await http(base, 'POST', '/processes/forest-map/execution', { inputs: { raster: 'chm', region }, outputs: { stats: { transmissionMode: 'value' }, trees: { transmissionMode: 'reference' } }, response: 'document' });
  assert.equal(some.status, 200, some.text);
  assert.deepEqual(Object.keys(some.json).sort(), ['region', 'statistics', 'stats', 'trees']);
  assert.equal(some.json.statistics.tree_count, r.json.statistics.tree_count);
  // five 20 m squares a kilometre apart: 0.002 km², but each touches a tile with its margins
  // (about 0.3 km² each at 10 m pixels), so the work is not small: a job, even without Prefer
  const specks = { type: 'MultiPolygon', coordinates: [0, 1, 2, 3, 4].map((k) => utmRect(563000 + 1000 * (k % 3), 4893000 + 1000 * Math.floor(k / 3), 20, 20)) };
  const scattered = await http(base, 'POST', '/processes/forest-map/execution', { inputs: { raster: 'coarse-chm', ws: 25, region: specks } });
  assert.equal(scattered.status, 201, scattered.text);
  assert.equal((await waitForJob(base, scattered.json.jobID)).status, 'successful');
});

test('DELETE dismisses a running job; its results are gone', async () => {
  const post = await http(base, 'POST', '/processes/forest-map/execution', { inputs: { raster: 'big-chm', hmin: 3.5, algorithm: 'silva' } }, { Prefer: 'respond-async' });
  assert.equal(post.status, 201, post.text);
  const id = post.json.jobID;
  // let it get going, then cancel it mid-run
  for (let i = 0; i < 200 && (await http(base, 'GET', `/jobs/${id}`)).json.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 200));
  const del = await http(base, 'DELETE', `/jobs/${id}`);
  assert.equal(del.status, 200);
  assert.equal(del.json.status, 'dismissed');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await http(base, 'GET', `/jobs/${id}`)).json.status, 'dismissed');
  const res = await http(base, 'GET', `/jobs/${id}/results`);
  assert.equal(res.status, 404);
  assert.match(res.json.error, /was dismissed: it has no results/);
  const file = await http(base, 'GET', `/jobs/${id}/results/trees.geojson`);
  assert.equal(file.status, 404);
  assert.match(file.json.error, /was dismissed: it has no results/);
  const list = await http(base, 'GET', '/jobs');
  assert.ok(list.json.jobs.some((j: { jobID: string; status: string }) => j.jobID === id && j.status === 'dismissed'));
});

test('more jobs than running + queued slots: 429', async () => {
  const post = (hmin: number) => http(base, 'POST', '/processes/forest-map/execution', { inputs: { raster: 'big-chm', hmin } }, { Prefer: 'respond-async' });
  const a = await post(4);
  const b = await post(4.5);
  const c = await post(5);
  assert.deepEqual([a.status, b.status, c.status], [201, 201, 429]);
  assert.match(c.json.error, /too many jobs/);
  assert.equal((await http(base, 'GET', `/jobs/${a.json.jobID}`)).json.status, 'running');
  assert.equal((await http(base, 'GET', `/jobs/${b.json.jobID}`)).json.status, 'accepted');
  for (const r of [b, a]) assert.equal((await http(base, 'DELETE', `/jobs/${r.json.jobID}`)).json.status, 'dismissed');
});

test('every invalid input is a 4xx with a JSON reason', async () => {
  const exec = (body: unknown, headers: Record<string, string> = {}) => http(base, 'POST', '/processes/forest-map/execution', body, headers);
  const inside = sceneRegion(scene, [[0.2, 0.2], [0.4, 0.2], [0.4, 0.4], [0.2, 0.4]]);
  const cases: Array<[string, Promise<{ status: number; json: any }>, number, RegExp]> = [
    ['malformed JSON', exec('{"inputs": '), 400, /^the request body is not valid JSON: /],
    ['JSON that is not an object', exec('null'), 400, /^the request body must be a JSON object$/],
    ['body too large', exec({ inputs: { raster: 'chm', pad: 'x'.repeat(70 * 1024) } }), 413, /too large/i],
    ['no inputs', exec({}), 400, /"inputs" must be an object/],
    ['missing raster', exec({ inputs: { region: inside } }), 400, /"raster" must be a raster id/],
    ['raster of wrong type', exec({ inputs: { raster: 42 } }), 400, /"raster" must be/],
    ['unknown raster', exec({ inputs: { raster: 'nope' } }), 404, /no raster with id 'nope'/],
    ['unknown input', exec({ inputs: { raster: 'chm', colour: 'red' } }), 400, /unknown input 'colour'/],
    ['hmin of wrong type', exec({ inputs: { raster: 'chm', hmin: '2' } }), 400, /"hmin" must be a number/],
    ['bad algorithm', exec({ inputs: { raster: 'chm', algorithm: 'magic' } }), 400, /"algorithm" must be one of/],
    ['bad ws expression', exec({ inputs: { raster: 'chm', ws: 'h+' } }), 400, /window expression/],
    ['ws expression infinite at some height', exec({ inputs: { raster: 'chm', ws: '1/(h-2)' } }), 400, /"ws": the window size function gives Infinity m at height 2 m/],
    ['ws expression negative above hmin', exec({ inputs: { raster: 'chm', ws: '10-h', hmin: 5 } }), 400, /gives 0 m at height 10 m/],
    ['window narrower than two pixels', exec({ inputs: { raster: 'chm', ws: 0.6 } }), 400, /^"ws": the window is 0\.6 m across, less than two of the CHM's 0\.5 m pixels: .* use at least 1 m$/],
    ['ws expression of kilometres', exec({ inputs: { raster: 'chm', ws: 'h*1000' } }), 400, /gives 2000 m at height 2 m/],
    ['unknown output', exec({ inputs: { raster: 'chm' }, outputs: { laz: {} } }), 400, /unknown output 'laz'/],
    ['a file output by value', exec({ inputs: { raster: 'chm' }, outputs: { trees: { transmissionMode: 'value' } } }), 400, /output 'trees' is sent by reference only/],
    ['an unknown transmission mode', exec({ inputs: { raster: 'chm' }, outputs: { stats: { transmissionMode: 'inline' } } }), 400, /transmissionMode must be "value" or "reference"/],
    ['an output that is not an object', exec({ inputs: { raster: 'chm' }, outputs: { stats: true } }), 400, /output 'stats' must be an object/],
    ['raw response', exec({ inputs: { raster: 'chm' }, response: 'raw' }), 400, /"response" must be "document"/],
    ['region not GeoJSON', exec({ inputs: { raster: 'chm', region: { type: 'Circle' } } }), 400, /Polygon or MultiPolygon/],
    ['a bbox object given as the region', exec({ inputs: { raster: 'chm', region: { bbox: [0, 0, 1, 1] } } }), 400, /region is a bounding box object, not GeoJSON: give it as the input "bbox"/],
    ['ring not closed', exec({ inputs: { raster: 'chm', region: { type: 'Polygon', coordinates: [inside.coordinates[0].slice(0, 4)] } } }), 400, /not closed/],
    ['self-intersecting ring', exec({ inputs: { raster: 'chm', region: { type: 'Polygon', coordinates: [[inside.coordinates[0][0], inside.coordinates[0][2], inside.coordinates[0][1], inside.coordinates[0][3], inside.coordinates[0][0]]] } } }), 400, /intersects itself/],
    ['overlapping polygons', exec({ inputs: { raster: 'chm', region: { type: 'MultiPolygon', coordinates: [inside.coordinates, inside.coordinates] } } }), 400, /^region polygons 0 and 1 overlap near \[/],
    ['hole outside its polygon', exec({ inputs: { raster: 'chm', region: { type: 'Polygon', coordinates: [inside.coordinates[0], sceneRegion(scene, [[0.5, 0.5], [0.5, 0.6], [0.6, 0.6], [0.6, 0.5]]).coordinates[0]] } } }), 400, /^polygon 0: ring 1, a hole, reaches outside the exterior ring/],
    ['projected coordinates', exec({ inputs: { raster: 'chm', region: { type: 'Polygon', coordinates: [[[560000, 4899900], [560100, 4899900], [560100, 4900000], [560000, 4899900]]] } } }), 400, /longitude 560000 is outside/],
    ['region outside the raster', exec({ inputs: { raster: 'chm', bbox: [10, 50, 10.001, 50.001] } }), 400, /does not overlap raster 'chm'/],
    ['region smaller than a pixel', exec({ inputs: { raster: 'chm', bbox: [inside.coordinates[0][0][0], inside.coordinates[0][0][1], inside.coordinates[0][0][0] + 1e-7, inside.coordinates[0][0][1] + 1e-7] } }), 400, /holds no pixel centre of raster 'chm': it must cover at least one of its 0\.5 m pixels/],
    ['region over the area limit', exec({ inputs: { raster: 'chm', bbox: [-122.3, 44.2, -122.2, 44.3] } }), 413, /exceeds the limit of 1 km²/],
    // two 4 ha parts 14 km apart: within the area limit, but chm.tif would cover their whole box
    ['region parts far apart', exec({ inputs: { raster: 'coarse-chm', ws: 25, region: { type: 'MultiPolygon', coordinates: [utmRect(561000, 4881000, 200, 200), utmRect(575000, 4895000, 200, 200)] } } }), 413,
      /^the region's bounding box covers 2\d\d km², more than the 16 km² allowed \(16 times the 1 km² area limit\); chm\.tif covers that box: submit parts this far apart as separate jobs$/],
    // 16 km long and 20 m wide (0.32 km²): the tiles along it, with their margins, cover far more
    ['a long thin region', exec({ inputs: { raster: 'coarse-chm', ws: 25, region: { type: 'Polygon', coordinates: utmRect(562000, 4890000, 16000, 20) } } }), 413,
      /^the region touches [\d.]+ km² of 32 px tiles \(with the \d+ px margin tree detection needs\), more than the 3 km² allowed \(twice the 1 km² area limit, plus 1 km²\): a long thin or scattered region/],
    ['a bbox in a projected CRS', exec({ inputs: { raster: 'chm', bbox: { bbox: [560000, 4899900, 560100, 4900000], crs: 'http://www.opengis.net/def/crs/EPSG/0/32610' } } }), 400, /input "bbox" crs must be WGS84 \(OGC CRS84\)/],
    ['a bbox crs that only contains 4326', exec({ inputs: { raster: 'chm', bbox: { bbox: [0, 0, 1, 1], crs: 'EPSG:43260' } } }), 400, /input "bbox" crs must be WGS84/],
    ['a CHM of elevations', exec({ inputs: { raster: 'elevation-chm' } }), 400, /^raster 'elevation-chm': 99% of its values are above 30\d(\.\d+)? m, higher than any canopy stands above the ground: these are elevations \(a DSM or DTM\)/],
    ['bbox and region together', exec({ inputs: { raster: 'chm', region: inside, bbox: [0, 0, 1, 1] } }), 400, /either "region" or "bbox"/],
    ['unknown model', exec({ inputs: { raster: 'image', model: 'no-such-model', region: inside } }), 404, /unknown model 'no-such-model'/],
    ['model given as a path', exec({ inputs: { raster: 'image', model: '../../etc', region: inside } }), 400, /not a path/],
    // a CHM skips inference, but a misspelt model name is still reported
    ['unknown model for a CHM raster', exec({ inputs: { raster: 'chm', model: 'no-such-model', region: inside } }), 404, /unknown model 'no-such-model'/],
    ['model path for a CHM raster', exec({ inputs: { raster: 'chm', model: '/tmp/x.onnx', region: inside } }), 400, /not a path/],
    ['unknown process', http(base, 'POST', '/processes/nope/execution', { inputs: {} }), 404, /no process 'nope'/],
    ['unknown job', http(base, 'GET', '/jobs/00000000-0000-0000-0000-000000000000'), 404, /no job/],
    ['bad paging', http(base, 'GET', '/jobs?limit=0'), 400, /'limit' must be an integer/],
    ['unknown job status filter', http(base, 'GET', '/jobs?status=successful,weird'), 400, /'status': unknown value 'weird'/],
  ];
  for (const [name, pending, status, reason] of cases) {
    const r = await pending;
    assert.equal(r.status, status, `${name}: status ${r.status} ${JSON.stringify(r.json)}`);
    assert.ok(r.json && typeof r.json.error === 'string', `${name}: JSON error body`);
    assert.match(r.json.error, reason, `${name}: ${r.json.error}`);
  }
});

test('an image without three bands, or too coarse for the model, is refused when the job or the canopy layer is asked for, not after it starts', async () => {
  const up = await fetch(`${base}/api/rasters?filename=one-band.tif&role=image`, { method: 'POST', body: readFileSync(join(scene.dataDir, 'chm.tif')), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(up.status, 201, await up.clone().text());
  const id = ((await up.json()) as { id: string }).id;
  const jobsBefore = (await http(base, 'GET', '/jobs?limit=1000')).json.jobs.length;
  for (const headers of [{}, { Prefer: 'respond-async' }] as Array<Record<string, string>>) {
    const r = await http(base, 'POST', '/processes/forest-map/execution', { inputs: { raster: id } }, headers);
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, new RegExp(`^raster '${id}': canopy height needs an RGB raster \\(3 bands\\), this one has 1; a one-band raster of heights is used as a CHM when its file name holds "chm"`));
  }
  assert.equal((await http(base, 'GET', '/jobs?limit=1000')).json.jobs.length, jobsBefore, 'no job was created');
  const canopy = await http(base, 'POST', `/api/rasters/${id}/canopy`, {});
  assert.equal(canopy.status, 400, canopy.text);
  assert.match(canopy.json.error, /canopy height needs an RGB raster \(3 bands\), this one has 1/);

  // RGB imagery at 3 m (a satellite's): too coarse for the 0.5 m default model, refused the same way
  const coarsePath = join(scene.root, 'rgb-3m.tif');
  const grid = { width: 64, height: 64, transform: [560000, 3, 0, 4900000, 0, -3] as [number, number, number, number, number, number], crs: SCENE_CRS };
  await writeCog(coarsePath, { grid, bands: 3, sampleType: 'uint8', photometric: 'rgb' }, (w) => [0, 1, 2].map((c) => new Uint8Array(w.width * w.height).fill(60 + 40 * c)));
  const coarse = await fetch(`${base}/api/rasters?filename=rgb-3m.tif&role=image`, { method: 'POST', body: readFileSync(coarsePath), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(coarse.status, 201, await coarse.clone().text());
  const coarseId = ((await coarse.json()) as { id: string }).id;
  const job = await http(base, 'POST', '/processes/forest-map/execution', { inputs: { raster: coarseId } }, { Prefer: 'respond-async' });
  assert.equal(job.status, 400, job.text);
  assert.match(job.json.error, new RegExp(`^raster '${coarseId}': its 3 m pixels are too coarse for model 'forestmap-vit' \\(0\\.5 m\\): tree crowns cannot be resolved; it takes imagery up to 2 m$`));
  const coarseCanopy = await http(base, 'POST', `/api/rasters/${coarseId}/canopy`, {});
  assert.equal(coarseCanopy.status, 400, coarseCanopy.text);
  assert.match(coarseCanopy.json.error, /too coarse for model/);
  assert.equal((await http(base, 'GET', '/jobs?limit=1000')).json.jobs.length, jobsBefore, 'no job was created');
});

test('GET /jobs filters by status and process (OGC API - Processes job list)', async () => {
  const all = (await http(base, 'GET', '/jobs?limit=1000')).json;
  assert.ok(all.jobs.length >= 3, `${all.jobs.length} jobs so far`);
  const statuses = [...new Set(all.jobs.map((j: { status: string }) => j.status))] as string[];
  assert.ok(statuses.length >= 2, `jobs in ${statuses.join(', ')}`);
  for (const status of statuses) {
    const r = await http(base, 'GET', `/jobs?limit=1000&status=${status}`);
    assert.equal(r.status, 200);
    const expected = all.jobs.filter((j: { status: string }) => j.status === status).map((j: { jobID: string }) => j.jobID);
    assert.deepEqual(r.json.jobs.map((j: { jobID: string }) => j.jobID), expected, status);
    assert.equal(r.json.numberMatched, expected.length);
    assert.equal(r.json.numberTotal, all.numberTotal);
  }
  const two = await http(base, 'GET', `/jobs?limit=1000&status=${statuses[0]}&status=${statuses[1]}`);
  assert.equal(two.json.numberMatched, all.jobs.filter((j: { status: string }) => statuses.slice(0, 2).includes(j.status)).length);
  assert.equal((await http(base, 'GET', '/jobs?processID=forest-map')).json.numberMatched, all.numberTotal);
  const other = await http(base, 'GET', '/jobs?processID=other');
  assert.deepEqual([other.status, other.json.jobs.length, other.json.numberMatched], [200, 0, 0]);
  // following next links one job at a time visits every job once, in the list's order
  const seen: string[] = [];
  let href: string | undefined = '/jobs?limit=1';
  while (href && seen.length <= all.jobs.length) {
    const page: any = (await http(base, 'GET', href)).json;
    seen.push(...page.jobs.map((j: { jobID: string }) => j.jobID));
    const prev = page.links.find((l: { rel: string }) => l.rel === 'prev');
    assert.equal(Boolean(prev), seen.length > 1, `prev link on page ${seen.length}`);
    href = page.links.find((l: { rel: string }) => l.rel === 'next')?.href;
  }
  assert.deepEqual(seen, all.jobs.map((j: { jobID: string }) => j.jobID));
});

test('POST /api/regions answers a region file as the process takes it, or the reason it is refused', async () => {
  // a stand in UTM 10N as ogr2ogr writes it, with a clockwise ring: WGS84, counter-clockwise, its area
  const utm = [[560010, 4899990], [560070, 4899990], [560070, 4899940], [560010, 4899940], [560010, 4899990]];
  assert.equal(booleanClockwise(utm), true);
  const file = { type: 'FeatureCollection', crs: { type: 'name', properties: { name: 'urn:ogc:def:crs:EPSG::32610' } }, features: [{ type: 'Feature', properties: { stand: 'A' }, geometry: { type: 'Polygon', coordinates: [utm] } }] };
  const r = await http(base, 'POST', '/api/regions', file);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.type, 'Feature');
  assert.equal(r.json.geometry.type, 'MultiPolygon');
  const ring = r.json.geometry.coordinates[0][0];
  assert.deepEqual(ring[0], ring[ring.length - 1], 'closed');
  assert.equal(booleanClockwise(ring), false, 'the clockwise ring comes back counter-clockwise');
  const toWgs = projector(SCENE_CRS, WGS84);
  const [lon, lat] = toWgs(560010, 4899990);
  assert.ok(r.json.geometry.coordinates[0][0].some(([x, y]: number[]) => Math.abs(x - lon) < 1e-9 && Math.abs(y - lat) < 1e-9), 'a corner, projected');
  assert.ok(Math.abs(r.json.properties.area_m2 - turfArea(r.json)) < 0.01);
  assert.ok(Math.abs(r.json.properties.area_ha - 0.3) < 0.003, `${r.json.properties.area_ha} ha`);
  const [w, s, e, n] = r.json.bbox;
  assert.ok(w < lon + 1e-9 && n > lat - 1e-9 && e > w && n > s);
  assert.equal(r.json.properties.parts, undefined, 'one feature: no parts');
  // two stands: listed as the job's statistics will list them
  const east = utm.map(([x, y]) => [x + 100, y]);
  const two = await http(base, 'POST', '/api/regions', { ...file, features: [...file.features, { type: 'Feature', id: 'B', properties: {}, geometry: { type: 'Polygon', coordinates: [east] } }] });
  assert.equal(two.status, 200, two.text);
  assert.deepEqual(two.json.properties.parts.map((p: any) => [p.feature, p.id]), [[0, null], [1, 'B']]);
  assert.ok(two.json.properties.parts.every((p: any) => Math.abs(p.area_ha - 0.3) < 0.003));
  // refused as a job would be: malformed, over the area limit, over the body limit
  const kinked = await http(base, 'POST', '/api/regions', { type: 'Polygon', coordinates: [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]] });
  assert.equal(kinked.status, 400);
  assert.match(kinked.json.error, /intersects itself/);
  const huge = await http(base, 'POST', '/api/regions', [-122.3, 44.2, -122.2, 44.3]);
  assert.equal(huge.status, 413);
  assert.match(huge.json.error, /exceeds the limit of 1 km²/);
  const big = await http(base, 'POST', '/api/regions', { type: 'Polygon', coordinates: [Array.from({ length: 5000 }, (_, i) => [-122 + i * 1e-6, 44])] });
  assert.equal(big.status, 413);
  const notJson = await fetch(`${base}/api/regions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '<kml/>' });
  assert.equal(notJson.status, 400);
  assert.match(((await notJson.json()) as { error: string }).error, /JSON/i);
});

test('a terrain model registered as a CHM: its trees fail with the reason, not hundreds-of-metres "trees"', async () => {
  let status: any = null;
  for (let i = 0; i < 200; i++) {
    status = (await http(base, 'GET', '/api/rasters/elevation-chm/trees/status')).json;
    if (status?.state === 'failed' || status?.state === 'done') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(status?.state, 'failed', JSON.stringify(status));
  assert.match(status.error, /^raster 'elevation-chm': 99% of its values are above 30\d(\.\d+)? m, .*these are elevations \(a DSM or DTM\)/);
});
