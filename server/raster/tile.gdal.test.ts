import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { FIXTURES, makeFixtureDir, makeGeoTiffs, pythonGdalMissing } from '../../test/fixtures/geotiffs.ts';
import { gdalToolsMissing, gdalWarpTile } from '../../test/fixtures/gdal.warp.ts';
import { openRaster } from './source.ts';
import { renderTile } from './tile.render.ts';
import { decodeToRgba } from '../../tiles/encode.ts';
import { parseTileStyle } from '../../tiles/tile.params.ts';
import { zoomRange } from '../../tiles/tilejson.ts';
import { lonLatToMercator, tileAt } from '../../tiles/tile.matrix.set.ts';
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

test('the rendered PNG (render + encode) matches gdalwarp too, for RGB and a rescaled float band', { skip }, async () => {
  for (const [name, query, toDn] of [
    ['u8-rgb-utm33-strip-lzw-nodata', {}, (v: number) => v],
    ['f32-chm-utm11-tiled-lzw-nodata-ovr', { rescale: '0,35' }, (v: number) => Math.max(0, Math.min(255, Math.round((v / 35) * 255)))],
  ] as const) {
    const src = await openRaster(paths[name]);
    const [w, s, e, n] = src.metadata.wgs84Bounds;
    const [mx, my] = lonLatToMercator(w + 0.7 * (e - w), s + 0.3 * (n - s));
    const tile = tileAt(mx, my, zoomRange(src.metadata).maxzoom - 1);
    const png = await renderTile(src, { tile, size: 256, format: 'png', style: parseTileStyle(query) });
    const { rgba } = await decodeToRgba(png!);
    const ref = await gdalWarpTile(paths[name], tile);
    const diffs: number[] = [];
    let validityMismatch = 0;
    for (let i = 0; i < 256 * 256; i++) {
      const mine = rgba[i * 4 + 3] > 0 ? 1 : 0;
      if (mine !== ref.valid[i]) validityMismatch++;
      if (!mine || !ref.valid[i]) continue;
      for (let b = 0; b < 3; b++) {
        const expected = toDn(ref.bands[Math.min(b, ref.bands.length - 1)][i]);
        diffs.push(Math.abs(rgba[i * 4 + b] - Math.round(expected)));
      }
    }
    diffs.sort((a, b) => a - b);
    const meanAbs = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    assert.ok(diffs.length > 1000, `${name}: ${diffs.length} values compared`);
    assert.ok(meanAbs <= 1 && diffs[Math.floor(diffs.length * 0.99)] <= 3, `${name}: mean ${meanAbs} p99 ${diffs[Math.floor(diffs.length * 0.99)]}`);
    assert.ok(validityMismatch <= 0.01 * diffs.length, `${name}: ${validityMismatch} pixels differ in transparency`);
  }
});
