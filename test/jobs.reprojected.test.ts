/**
 * Imagery in other CRSs than an EPSG-coded metric one. In WGS84 degrees or Web Mercator (OpenAerialMap serves EPSG:3857; drone orthophotos often
 * come in EPSG:4326): `forestmap process` computes the CHM on the UTM grid of the area and finds
 * the trees the same imagery, reprojected by GDAL onto that grid, gives.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeScene, sceneRegion, type SceneFixture } from './jobs.fixture.ts';
import { openRaster } from '../server/raster/source.ts';
import { projector, WGS84 } from '../tiles/projection.ts';
import { modelGrid } from '../server/chm/model.grid.ts';
import { gdalMissing, gdalSameSrs } from './gdal.inspect.ts';

const gdalwarpMissing = spawnSync('gdalwarp', ['--version']).status === 0 ? false : 'gdalwarp (gdal-bin) not installed';
let scene: SceneFixture;
before(async () => { scene = await makeScene(600, 600, 0.5, 5); });
after(() => scene?.cleanup());

const process_ = (image: string, region: string, out: string) =>
  spawnSync(process.execPath, ['bin/forestmap.js', 'process', '--image', image, '--region', region, '--out', out], { encoding: 'utf8' });

type Stats = { tree_count: number; canopy_cover_2m: number; data_coverage: number; tree_height_m: { mean: number } };

test('imagery in EPSG:4326 or EPSG:3857 is processed on the UTM grid of the area, finding the UTM imagery\'s trees', { skip: gdalwarpMissing }, async () => {
  const region = join(scene.root, 'region.geojson');
  writeFileSync(region, JSON.stringify(sceneRegion(scene, [[0.15, 0.15], [0.85, 0.15], [0.85, 0.85], [0.15, 0.85]])));
  const utm = join(scene.dataDir, 'image.tif');
  const base = process_(utm, region, join(scene.root, 'out-utm'));
  assert.equal(base.status, 0, base.stderr);
  const read = (dir: string) => ({
    stats: JSON.parse(readFileSync(join(dir, 'stats.json'), 'utf8')).statistics as Stats,
    tops: (JSON.parse(readFileSync(join(dir, 'trees.geojson'), 'utf8')).features as Array<{ geometry: { coordinates: [number, number] } }>).map((f) => f.geometry.coordinates),
  });
  const want = read(join(scene.root, 'out-utm'));
  assert.ok(want.stats.tree_count > 100, `${want.stats.tree_count} trees in the UTM run`);
  const sceneCrs = (await openRaster(utm)).grid.crs;
  const toUtm = projector(WGS84, sceneCrs);
  for (const epsg of [4326, 3857]) {
    const warped = join(scene.root, `image-${epsg}.tif`);
    const w = spawnSync('gdalwarp', ['-q', '-t_srs', `EPSG:${epsg}`, '-r', 'bilinear', '-dstalpha', utm, warped], { encoding: 'utf8' });
    assert.equal(w.status, 0, w.stderr);
    const out = join(scene.root, `out-${epsg}`);
    const r = process_(warped, region, out);
    assert.equal(r.status, 0, `EPSG:${epsg}: ${r.stderr}`);
    const chm = await openRaster(join(out, 'chm.tif'));
    assert.equal(chm.grid.crs.epsg, sceneCrs.epsg, `EPSG:${epsg}: the CHM is in the area's UTM zone`);
    assert.deepEqual(chm.metadata.resolution, [0.5, 0.5]);
    const got = read(out);
    assert.equal(got.stats.data_coverage, 1);
    // against the UTM original: close, not equal. The imagery was resampled twice, and the model's
    // windows lie on another lattice (the UTM grid starts at the warped footprint's corner), which
    // alone moves forestmap-vit's heights by metres here and there
    assert.ok(Math.abs(got.stats.tree_count - want.stats.tree_count) <= 0.05 * want.stats.tree_count, `EPSG:${epsg}: ${got.stats.tree_count} trees, ${want.stats.tree_count} in UTM`);
    assert.ok(Math.abs(got.stats.canopy_cover_2m - want.stats.canopy_cover_2m) < 0.015, `EPSG:${epsg}: cover ${got.stats.canopy_cover_2m} vs ${want.stats.canopy_cover_2m}`);
    assert.ok(Math.abs(got.stats.tree_height_m.mean - want.stats.tree_height_m.mean) < 1, `EPSG:${epsg}: mean height ${got.stats.tree_height_m.mean} vs ${want.stats.tree_height_m.mean}`);

    // against GDAL's reprojection onto the same grid, processed as UTM imagery: the same trees in
    // the same places (most within a pixel)
    const grid = modelGrid((await openRaster(warped)).grid, 0.5);
    assert.equal(grid.crs.epsg, sceneCrs.epsg);
    const t = grid.transform;
    const gdalUtm = join(scene.root, `image-${epsg}-gdal-utm.tif`);
    const g = spawnSync('gdalwarp', ['-q', '-t_srs', `EPSG:${grid.crs.epsg}`, '-te', String(t[0]), String(t[3] - grid.height * 0.5), String(t[0] + grid.width * 0.5), String(t[3]), '-tr', '0.5', '0.5', '-r', 'bilinear', warped, gdalUtm], { encoding: 'utf8' });
    assert.equal(g.status, 0, g.stderr);
    const refOut = join(scene.root, `out-${epsg}-gdal-utm`);
    const rr = process_(gdalUtm, region, refOut);
    assert.equal(rr.status, 0, rr.stderr);
    const ref = read(refOut);
    assert.ok(Math.abs(got.stats.tree_count - ref.stats.tree_count) <= 0.02 * ref.stats.tree_count, `EPSG:${epsg}: ${got.stats.tree_count} trees, ${ref.stats.tree_count} through gdalwarp`);
    assert.ok(Math.abs(got.stats.canopy_cover_2m - ref.stats.canopy_cover_2m) < 0.005, `EPSG:${epsg}: cover ${got.stats.canopy_cover_2m} vs ${ref.stats.canopy_cover_2m} through gdalwarp`);
    const mine = got.tops.map(([lon, lat]) => toUtm(lon, lat));
    const near = ref.tops.filter(([lon, lat]) => {
      const [x, y] = toUtm(lon, lat);
      return mine.some(([mx, my]) => Math.hypot(mx - x, my - y) <= 0.5);
    }).length;
    assert.ok(near >= 0.85 * ref.tops.length, `EPSG:${epsg}: ${near} of ${ref.tops.length} tops found within 0.5 m`);
  }
});

test('imagery in a user-defined projection (GeoKey 32767) is processed in it: the CHM says the same CRS to GDAL', { skip: gdalwarpMissing || gdalMissing }, async () => {
  const region = join(scene.root, 'region.geojson');
  writeFileSync(region, JSON.stringify(sceneRegion(scene, [[0.15, 0.15], [0.85, 0.15], [0.85, 0.85], [0.15, 0.85]])));
  const image = join(scene.root, 'image-user-tmerc.tif');
  // a transverse Mercator on GRS80 without a datum: no EPSG code names it
  const w = spawnSync('gdalwarp', ['-q', '-t_srs', '+proj=tmerc +lat_0=0 +lon_0=-123.2 +k=0.9996 +x_0=300000 +y_0=0 +ellps=GRS80 +units=m', '-r', 'bilinear', '-dstalpha', join(scene.dataDir, 'image.tif'), image], { encoding: 'utf8' });
  assert.equal(w.status, 0, w.stderr);
  const src = await openRaster(image);
  assert.equal(src.grid.crs.epsg, null, 'user-defined');
  const out = join(scene.root, 'out-user-tmerc');
  const r = process_(image, region, out);
  assert.equal(r.status, 0, r.stderr);
  const chm = await openRaster(join(out, 'chm.tif'));
  assert.equal(chm.grid.crs.proj4, src.grid.crs.proj4, 'the CHM is in the image\'s own CRS');
  assert.ok(gdalSameSrs(image, join(out, 'chm.tif')), 'GDAL reads the same CRS from the CHM');
  const stats = JSON.parse(readFileSync(join(out, 'stats.json'), 'utf8')).statistics as Stats;
  if (!existsSync(join(scene.root, 'out-utm', 'stats.json'))) assert.equal(process_(join(scene.dataDir, 'image.tif'), region, join(scene.root, 'out-utm')).status, 0);
  const base = JSON.parse(readFileSync(join(scene.root, 'out-utm', 'stats.json'), 'utf8')).statistics as Stats;
  assert.ok(Math.abs(stats.tree_count - base.tree_count) <= 0.05 * base.tree_count, `${stats.tree_count} trees, ${base.tree_count} in UTM`);
  assert.equal(stats.data_coverage, 1);
});

test('a CHM in degrees is still refused for tree detection, saying how to reproject', { skip: gdalwarpMissing }, () => {
  const chm = join(scene.root, 'chm-4326.tif');
  const w = spawnSync('gdalwarp', ['-q', '-t_srs', 'EPSG:4326', join(scene.dataDir, 'chm.tif'), chm], { encoding: 'utf8' });
  assert.equal(w.status, 0, w.stderr);
  const r = spawnSync(process.execPath, ['bin/forestmap.js', 'process', '--chm', chm, '--out', join(scene.root, 'out-chm')], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /geographic coordinates \(degrees\).*gdalwarp -t_srs EPSG:326NN/);
});
