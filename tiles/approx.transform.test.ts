import { test } from 'node:test';
import assert from 'node:assert/strict';
import { approxTransform } from './approx.transform.ts';
import { tilePixelTransform } from './read.plan.ts';
import { crsFromEpsg, projector, WGS84 } from './projection.ts';
import { lonLatToMercator, tileAt } from './tile.matrix.set.ts';
import type { Affine } from '../server/raster/types.ts';

/** A raster layout in `epsg` with pixel size `res` around a lon/lat. */
function layoutAt(epsg: number, lon: number, lat: number, res: number) {
  const crs = crsFromEpsg(epsg);
  const [x, y] = projector(WGS84, crs)(lon, lat);
  const transform: Affine = [x - 500 * res, res, 0, y + 500 * res, 0, -res];
  return { crs, levels: [{ width: 1000, height: 1000, transform }] };
}

test('approximate transformer stays within 1/8 pixel of proj4 for every pixel of real tiles', () => {
  const cases: Array<[number, number, number, number]> = [
    [32611, -119.72, 37.1, 0.1], [32617, -82.04, 29.69, 1], [32619, -71.28, 44.06, 0.1], [32616, -84.46, 31.2, 0.1],
    [2193, 175.4, -40.92, 1], [4326, 172.6, -43.5, 0.00001], [2994, -123.07, 44.05, 1], [32633, 13.4, 52.5, 0.25],
  ];
  for (const [epsg, lon, lat, res] of cases) {
    const layout = layoutAt(epsg, lon, lat, res);
    const [mx, my] = lonLatToMercator(lon, lat);
    for (const z of [12, 16, 19, 22]) {
      const tile = tileAt(mx, my, z);
      const exact = tilePixelTransform(layout, tile, 256, 0);
      const approx = approxTransform(256, 256, exact);
      const sx = new Float64Array(256), sy = new Float64Array(256);
      let worst = 0;
      for (let r = 0; r < 256; r++) {
        approx.row(r, sx, sy);
        for (let c = 0; c < 256; c++) {
          const [ex, ey] = exact(c + 0.5, r + 0.5);
          worst = Math.max(worst, Math.abs(sx[c] - ex), Math.abs(sy[c] - ey));
        }
      }
      assert.ok(worst < 0.125, `EPSG:${epsg} z${z}: max error ${worst} px (step ${approx.step})`);
    }
  }
});

test('the grid is refined where the transform bends, and coarse where it is affine', () => {
  const affine = approxTransform(256, 256, (x, y) => [3 * x + 1, 2 * y - 5]);
  assert.equal(affine.step, 32);
  // strongly curved: needs a finer grid to stay within 1/8 px
  const curved = approxTransform(256, 256, (x, y) => [x + 0.002 * x * x, y + 0.002 * y * y]);
  assert.ok(curved.step < 32, `step ${curved.step}`);
  const sx = new Float64Array(256), sy = new Float64Array(256);
  curved.row(100, sx, sy);
  assert.ok(Math.abs(sx[77] - (77.5 + 0.002 * 77.5 * 77.5)) < 0.125);
});
