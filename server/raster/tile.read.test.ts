import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openRaster } from './source.ts';
import { planFor, readTile } from './tile.read.ts';
import { FIXTURES, makeFixtureDir, makeGeoTiffs, pythonGdalMissing } from '../../test/fixtures/geotiffs.ts';
import { zoomRange } from '../../tiles/tilejson.ts';
import { lonLatToMercator, tileAt } from '../../tiles/tile.matrix.set.ts';

const dir = makeFixtureDir('fm-tileread-');
after(() => rmSync(dir, { recursive: true, force: true }));
const specs = FIXTURES.filter((f) => f.name.startsWith('f32-2band') || f.name.startsWith('u8-rgb-utm10'));
const paths = pythonGdalMissing ? {} : makeGeoTiffs(dir, specs);

function mean(img: { bands: Float32Array[]; mask: Uint8Array | null }): { mean: number; n: number } {
  let s = 0, n = 0;
  img.bands[0].forEach((v, i) => {
    if (img.mask && !img.mask[i]) return;
    s += v;
    n++;
  });
  return { mean: s / n, n };
}

test('a window too big to decode (no fitting overview) is subsampled within the read budget', { skip: pythonGdalMissing }, async () => {
  const src = await openRaster(paths['f32-2band-utm17-planar-strip-none']);
  const [w, s, e, n] = src.metadata.wgs84Bounds;
  const [mx, my] = lonLatToMercator((w + e) / 2, (s + n) / 2);
  const tile = tileAt(mx, my, zoomRange(src.metadata).minzoom);
  const plan = planFor(src, tile)!;
  assert.ok(plan.window.width * plan.window.height > 20_000, 'the plan wants more than the budget');
  const full = (await readTile(src, tile))!;
  const budget = (await readTile(src, tile, { maxReadPixels: 5_000 }))!;
  const a = mean(full), b = mean(budget);
  assert.ok(b.n > 0.8 * a.n && b.n < 1.2 * a.n, `coverage ${b.n} vs ${a.n}`);
  assert.ok(Math.abs(a.mean - b.mean) < 0.05 * Math.abs(a.mean), `mean ${b.mean} vs ${a.mean}`);
});

test('low zooms read an overview, the native zoom full resolution', { skip: pythonGdalMissing }, async () => {
  const src = await openRaster(paths['u8-rgb-utm10-tiled-none-ovr']);
  const { minzoom, maxzoom } = zoomRange(src.metadata);
  const [w, s, e, n] = src.metadata.wgs84Bounds;
  const [mx, my] = lonLatToMercator((w + e) / 2, (s + n) / 2);
  assert.equal(planFor(src, tileAt(mx, my, maxzoom))!.level, 0);
  assert.ok(planFor(src, tileAt(mx, my, minzoom))!.level >= 1, 'an overview at minzoom');
  assert.equal(planFor(src, tileAt(mx, my, minzoom - 2))!.level, src.levelCount - 1);
  const img = (await readTile(src, tileAt(mx, my, minzoom)))!;
  assert.equal(img.grid.width, 256);
  assert.equal(img.grid.crs.epsg, 3857);
  const retina = (await readTile(src, tileAt(mx, my, minzoom), { size: 512 }))!;
  assert.equal(retina.bands[0].length, 512 * 512);
});
