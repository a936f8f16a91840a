import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { FIXTURES, makeFixtureDir, makeGeoTiffs, pythonGdalMissing } from '../../test/fixtures/geotiffs.ts';
import { gdalToolsMissing } from '../../test/fixtures/gdal.warp.ts';
import { compareWithGdal } from '../../test/fixtures/tile.compare.ts';

const skip = pythonGdalMissing || gdalToolsMissing;
const dir = makeFixtureDir();
after(() => rmSync(dir, { recursive: true, force: true }));
const paths = skip ? {} : makeGeoTiffs(dir, FIXTURES);

for (const spec of FIXTURES) {
  test(`tiles of ${spec.name} match gdalwarp -r bilinear (mean <= 1 DN, p99 <= 3 DN)`, { skip }, async () => {
    for (const d of await compareWithGdal(paths[spec.name])) {
      const where = `${d.tile.z}/${d.tile.x}/${d.tile.y}`;
      assert.ok(d.both > 0, `${where}: no pixel valid in both`);
      assert.ok(d.meanAbs <= 1 && d.p99 <= 3, `${where}: mean ${d.meanAbs.toFixed(3)} p99 ${d.p99}`);
      // the footprints agree too: at most 1% of valid pixels differ in validity
      assert.ok(d.onlyOne <= 0.01 * d.both + 4, `${where}: ${d.onlyOne} pixels valid in only one of the two`);
    }
  });
}

test('resampling=nearest matches gdalwarp -r near', { skip }, async () => {
  for (const name of ['u8-rgb-utm33-strip-lzw-nodata', 'f32-chm-utm11-tiled-lzw-nodata-ovr']) {
    for (const d of await compareWithGdal(paths[name], 'nearest')) {
      assert.ok(d.meanAbs <= 1 && d.p99 <= 3, `${name} ${d.tile.z}: mean ${d.meanAbs} p99 ${d.p99}`);
    }
  }
});
