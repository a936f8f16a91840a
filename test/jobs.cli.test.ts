/**
 * `forestmap process`: the stable flags and file names, a region file as a FeatureCollection, and
 * clear usage errors.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeScene, sceneRegion, type SceneFixture } from './jobs.fixture.ts';
import { rfc7946Problems } from './region.rfc7946.ts';
import { writeCog } from '../server/raster/cog.writer.ts';
import { SCENE_CRS } from '../server/scene/generate.ts';
import { projector, WGS84 } from '../tiles/projection.ts';
import { PYTHON, pythonGdalMissing } from './fixtures/geotiffs.ts';

let scene: SceneFixture;
before(async () => { scene = await makeScene(200, 200, 0.5, 3); });
after(() => scene.cleanup());

const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/forestmap.js', 'process', ...args], { encoding: 'utf8' });

test('process --chm --region writes chm.tif, trees.geojson, crowns.geojson, stats.json', () => {
  const regionFile = join(scene.root, 'region.geojson');
  writeFileSync(regionFile, JSON.stringify({ type: 'FeatureCollection', features: [
    { type: 'Feature', properties: {}, geometry: sceneRegion(scene, [[0.1, 0.1], [0.45, 0.1], [0.45, 0.45], [0.1, 0.45]]) },
    { type: 'Feature', properties: {}, geometry: sceneRegion(scene, [[0.55, 0.55], [0.9, 0.55], [0.9, 0.9], [0.55, 0.9]]) },
  ] }));
  const out = join(scene.root, 'out');
  const r = cli('--chm', join(scene.dataDir, 'chm.tif'), '--region', regionFile, '--out', out, '--ws', '0.07*h+3');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\d+ trees in 0\.\d+ ha/);
  // one order, whichever export finished first
  assert.match(r.stdout, /Wrote stats\.json, trees\.geojson, crowns\.geojson, chm\.tif to /);
  for (const f of ['chm.tif', 'trees.geojson', 'crowns.geojson', 'stats.json']) assert.ok(existsSync(join(out, f)), f);
  assert.equal(existsSync(join(out, '.work')), false, 'the work folder is removed after success');
  const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8'));
  assert.equal(stats.tree_detection.ws, '0.07*h+3');
  // two 35 m x 35 m squares: about 0.245 ha together
  assert.ok(Math.abs(stats.statistics.area_ha - 0.245) < 0.003, `${stats.statistics.area_ha} ha`);
  const trees = JSON.parse(readFileSync(join(out, 'trees.geojson'), 'utf8'));
  assert.equal(trees.features.length, stats.statistics.tree_count);
  assert.deepEqual(rfc7946Problems(trees, 'Point'), []);
});

test('a region file in the raster\'s projected CRS (a GeoJSON 2008 crs member, as ogr2ogr writes it) gives the trees of the same region in WGS84', () => {
  // a stand boundary in UTM 10N metres, off the pixel lattice
  const utm = [[560012.3, 4899987.7], [560071.9, 4899981.1], [560064.2, 4899931.4], [560017.5, 4899936.6], [560012.3, 4899987.7]];
  const toWgs = projector(SCENE_CRS, WGS84);
  const files = {
    utm: { type: 'FeatureCollection', crs: { type: 'name', properties: { name: 'urn:ogc:def:crs:EPSG::32610' } }, features: [{ type: 'Feature', properties: { stand: 'A' }, geometry: { type: 'Polygon', coordinates: [utm] } }] },
    wgs84: { type: 'Polygon', coordinates: [utm.map(([x, y]) => toWgs(x, y))] },
  };
  const trees: Record<string, string> = {};
  for (const [name, doc] of Object.entries(files)) {
    const file = join(scene.root, `region-${name}.geojson`), out = join(scene.root, `out-${name}`);
    writeFileSync(file, JSON.stringify(doc));
    const r = cli('--chm', join(scene.dataDir, 'chm.tif'), '--region', file, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    trees[name] = readFileSync(join(out, 'trees.geojson'), 'utf8');
  }
  assert.ok(JSON.parse(trees.utm).features.length > 5, 'the stand holds trees');
  assert.equal(trees.utm, trees.wgs84);
});

test('a second run into the same --out is refused while one runs; Ctrl-C stops a run with exit code 130 and says the same command resumes; it does, from the kept units', async () => {
  const out = join(scene.root, 'out-interrupted');
  // small CHM blocks and trees tiles: many units, so the run is still going when the interrupt comes
  const args = ['bin/forestmap.js', 'process', '--image', join(scene.dataDir, 'image.tif'), '--out', out, '--tile-size', '32', '--block-size', '32'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let sent = false;
  let second: Promise<{ code: number | null; stderr: string }> | null = null;
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    if (!sent && /canopy height: block [3-9]\d* of/.test(stderr)) {
      sent = true;
      // a second run into the same folder meanwhile is refused at once, and the first goes on
      const other = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let otherErr = '';
      other.stderr.setEncoding('utf8').on('data', (d: string) => { otherErr += d; });
      second = new Promise((r) => other.on('close', (c) => { r({ code: c, stderr: otherErr }); child.kill('SIGINT'); }));
    }
  });
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  assert.ok(sent, `the run reported progress before finishing: ${stderr.slice(-300)}`);
  const refused = await second!;
  assert.equal(refused.code, 1, refused.stderr);
  assert.equal(refused.stderr, `forestmap process: --out ${out} is in use by another forestmap process run (process ${child.pid}): stop it first, or use another folder\n`);
  assert.equal(code, 130, stderr.slice(-500));
  assert.match(stderr, /forestmap process: interrupted\. Finished blocks and tiles are kept in .*\.work; the same command resumes from them\.\n$/);
  const kept = readdirSync(join(out, '.work', 'units'), { recursive: true }).length;
  assert.ok(kept > 0, 'finished units are on disk');
  assert.equal(existsSync(join(out, 'trees.geojson')), false, 'no results from an interrupted run');
  const again = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  for (const f of ['chm.tif', 'trees.geojson', 'crowns.geojson', 'stats.json']) assert.ok(existsSync(join(out, f)), f);
  assert.equal(existsSync(join(out, '.work')), false);
});

test('usage errors exit 2 with the reason; bad input exits 1 with the reason', () => {
  const both = cli('--chm', 'a.tif', '--image', 'b.tif', '--out', join(scene.root, 'x'));
  assert.equal(both.status, 2);
  assert.match(both.stderr, /exactly one of --image/);
  const missing = cli('--chm', join(scene.root, 'nope.tif'), '--out', join(scene.root, 'x'));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no such file/);
  const noOut = cli('--chm', join(scene.dataDir, 'chm.tif'));
  assert.equal(noOut.status, 2);
  assert.match(noOut.stderr, /--out is required/);
  const badRegion = join(scene.root, 'bad.geojson');
  writeFileSync(badRegion, JSON.stringify({ type: 'Polygon', coordinates: [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]] }));
  const kinked = cli('--chm', join(scene.dataDir, 'chm.tif'), '--region', badRegion, '--out', join(scene.root, 'y'));
  assert.equal(kinked.status, 1);
  assert.match(kinked.stderr, /intersects itself/);
  // a shapefile or KML given as the region: one line saying what to convert it with
  const kml = join(scene.root, 'region.kml');
  writeFileSync(kml, '<?xml version="1.0"?>\n<kml/>\n');
  const notJson = cli('--chm', join(scene.dataDir, 'chm.tif'), '--region', kml, '--out', join(scene.root, 'z'));
  assert.equal(notJson.status, 1);
  assert.match(notJson.stderr, /^forestmap process: cannot read region file .*region\.kml: .*is not valid JSON \(it must be GeoJSON in WGS84: convert a shapefile or KML with ogr2ogr -f GeoJSON -t_srs EPSG:4326 region\.geojson IN\)\n$/);
  // an output folder that cannot be made: reported at once (Node's own recursive mkdir never returns under /proc)
  if (existsSync('/proc/self')) {
    const unmakeable = spawnSync(process.execPath, ['bin/forestmap.js', 'process', '--chm', join(scene.dataDir, 'chm.tif'), '--out', '/proc/forestmap-no-such/out'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(unmakeable.status, 1, `status ${unmakeable.status} signal ${unmakeable.signal}`);
    assert.match(unmakeable.stderr, /ENOENT: no such file or directory, mkdir '\/proc\/forestmap-no-such'/);
  }
});

test('a CHM whose nodata is NaN (undeclared) keeps every valid pixel: data coverage is the valid share', async () => {
  // every other row NaN: before, a 1:1 read multiplied the zero-weight NaN taps and lost all but one row
  const grid = { width: 120, height: 120, transform: [560000, 0.5, 0, 4900000, 0, -0.5] as [number, number, number, number, number, number], crs: SCENE_CRS };
  const chm = join(scene.root, 'nan-rows.tif');
  await writeCog(chm, { grid, bands: 1, sampleType: 'float32' }, (w) => [Float32Array.from({ length: w.width * w.height }, (_, i) => ((w.y + Math.floor(i / w.width)) % 2 ? NaN : 15))]);
  const out = join(scene.root, 'out-nan-rows');
  const r = cli('--chm', chm, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')).statistics;
  assert.ok(Math.abs(stats.data_coverage - 0.5) < 0.01, `data coverage ${stats.data_coverage}`);
  assert.equal(stats.canopy_cover_2m, 1);
  assert.match(r.stdout, /^\d+ trees? in 0\.36 ha, 50\.0% of it with data /);
  // a garden-sized CHM (4 x 4 pixels of 0.5 m) is summed up in square metres, not as "0.00 ha"
  const small = join(scene.root, 'small.tif');
  await writeCog(small, { grid: { ...grid, width: 4, height: 4 }, bands: 1, sampleType: 'float32' }, (w) => [new Float32Array(w.width * w.height).fill(9)]);
  const s = cli('--chm', small, '--out', join(scene.root, 'out-small'));
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /^1 tree in (3\.99|4) m² /, "geodesic: UTM's scale factor makes it 3.99");
});

test('a CHM stored as centimetres (uint16, GDAL scale 0.01) gives the heights of the float CHM it came from', { skip: pythonGdalMissing }, () => {
  const cm = join(scene.root, 'chm-cm.tif');
  const made = spawnSync(PYTHON, ['-c', [
    'import sys, numpy as np', 'from osgeo import gdal',
    'src = gdal.Open(sys.argv[1]); a = src.ReadAsArray()',
    "ds = gdal.GetDriverByName('GTiff').Create(sys.argv[2], src.RasterXSize, src.RasterYSize, 1, gdal.GDT_UInt16)",
    'ds.SetProjection(src.GetProjection()); ds.SetGeoTransform(src.GetGeoTransform())',
    'b = ds.GetRasterBand(1); b.WriteArray(np.clip(np.round(a * 100), 0, 65534).astype(np.uint16)); b.SetScale(0.01); b.SetOffset(0); ds = None',
  ].join('\n'), join(scene.dataDir, 'chm.tif'), cm], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const run = (chm: string, out: string) => {
    const r = cli('--chm', chm, '--out', join(scene.root, out));
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(readFileSync(join(scene.root, out, 'stats.json'), 'utf8')).statistics;
  };
  const metres = run(join(scene.dataDir, 'chm.tif'), 'out-m'), centimetres = run(cm, 'out-cm');
  // before, the centimetres were read as metres: a 100x taller forest, and windows too wide to search
  assert.ok(Math.abs(centimetres.tree_height_m.max - metres.tree_height_m.max) <= 0.005, `max ${centimetres.tree_height_m.max} vs ${metres.tree_height_m.max}`);
  assert.ok(Math.abs(centimetres.canopy_height_m.mean - metres.canopy_height_m.mean) <= 0.005, `mean ${centimetres.canopy_height_m.mean} vs ${metres.canopy_height_m.mean}`);
  assert.equal(centimetres.canopy_cover_2m, metres.canopy_cover_2m);
  // heights rounded to the centimetre make a few more ties for the local maximum filter
  assert.ok(Math.abs(centimetres.tree_count - metres.tree_count) <= Math.max(2, 0.04 * metres.tree_count), `${centimetres.tree_count} trees vs ${metres.tree_count}`);
});
