import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, makeFixtureDir, makeGeoTiffs, pythonGdalMissing } from '../../test/fixtures/geotiffs.ts';

const dir = makeFixtureDir('fm-info-');
after(() => rmSync(dir, { recursive: true, force: true }));

function info(...args: string[]) {
  return spawnSync(process.execPath, ['bin/forestmap.js', 'info', ...args], { encoding: 'utf8' });
}

test('forestmap info prints metadata as text and JSON', { skip: pythonGdalMissing }, () => {
  const spec = FIXTURES.find((f) => f.name.startsWith('f32-chm'))!;
  const path = makeGeoTiffs(dir, [spec])[spec.name];
  const text = info(path);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /EPSG:32611 \(WGS 84 \/ UTM zone 11N\)/);
  assert.match(text.stdout, /520 x 400 pixels, 1 band/);
  assert.match(text.stdout, /nodata:\s+-9999/);
  assert.match(text.stdout, /overviews:\s+260x200, 130x100, 65x50/);
  assert.match(text.stdout, /tiled 64x64, chunky, compression lzw/);
  assert.match(text.stdout, /colour:\s+minisblack\n/);
  assert.match(text.stdout, /georef:\s+GeoTIFF keys\n/);
  const json = info('--json', path);
  assert.equal(json.status, 0);
  const m = JSON.parse(json.stdout);
  assert.equal(m.crs.epsg, 32611);
  assert.equal(m.gsd, 0.5);
  assert.equal(m.sampleType, 'float32');
  assert.equal(m.photometric, 'minisblack');
  assert.equal(m.wgs84Bounds.length, 4);
});

test('forestmap info says when the georeferencing comes from the .aux.xml, which GDAL reads first', { skip: pythonGdalMissing }, () => {
  const spec = FIXTURES.find((f) => f.name.startsWith('f32-chm'))!;
  const path = makeGeoTiffs(dir, [{ ...spec, name: 'assigned' }]).assigned;
  writeFileSync(`${path}.aux.xml`, '<PAMDataset>\n  <SRS>PROJCS["WGS 84 / UTM zone 12N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["central_meridian",-111],PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",500000],PARAMETER["false_northing",0],UNIT["metre",1],AUTHORITY["EPSG","32612"]]</SRS>\n</PAMDataset>\n');
  const text = info(path);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /EPSG:32612 \(WGS 84 \/ UTM zone 12N\)/);
  assert.match(text.stdout, /georef:\s+the \.aux\.xml beside the TIFF/);
});

test('forestmap info: unreadable file exits 1 with the reason; no file is a usage error', () => {
  const junk = join(dir, 'junk.tif');
  writeFileSync(junk, 'hello');
  const bad = info(junk);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /not a TIFF/);
  assert.equal(info().status, 2);
  assert.equal(info('--nope', junk).status, 2);
});
