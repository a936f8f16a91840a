import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gdalToolsMissing } from './fixtures/gdal.warp.ts';
import { compareWithGdal } from './fixtures/tile.compare.ts';

const root = '../shared/data';
function tiffs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    return d.isDirectory() ? tiffs(p) : /\.tiff?$/i.test(d.name) ? [p] : [];
  });
}
const files = tiffs(root);
const skip = !existsSync(root) ? 'needs ../shared/data' : gdalToolsMissing;

test('../shared/data holds GeoTIFFs in four UTM zones and NZTM', { skip }, () => {
  assert.ok(files.length >= 10, `${files.length} GeoTIFFs`);
});

for (const path of files) {
  test(`tiles of ${path.slice(root.length + 1)} match gdalwarp at three zooms (mean <= 1 DN, p99 <= 3 DN)`, { skip }, async () => {
    for (const d of await compareWithGdal(path)) {
      const where = `${d.tile.z}/${d.tile.x}/${d.tile.y}`;
      assert.ok(d.both > 0, `${where}: no pixel valid in both`);
      assert.ok(d.meanAbs <= 1 && d.p99 <= 3, `${where}: mean ${d.meanAbs.toFixed(3)} p99 ${d.p99}`);
      assert.ok(d.onlyOne <= 0.01 * d.both + 4, `${where}: ${d.onlyOne} pixels valid in only one`);
    }
  });
}
