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
  const json = info('--json', path);
  assert.equal(json.status, 0);
  const m = JSON.parse(json.stdout);
  assert.equal(m.crs.epsg, 32611);
  assert.equal(m.gsd, 0.5);
  assert.equal(m.sampleType, 'float32');
  assert.equal(m.photometric, 'minisblack');
  assert.equal(m.wgs84Bounds.length, 4);
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
