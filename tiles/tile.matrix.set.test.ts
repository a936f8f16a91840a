import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bounds } from './bounds.ts';
import { isValidTile, lonLatToMercator, mercatorToLonLat, metresToPixel, ORIGIN_SHIFT, pixelToMetres, resolutionAt, tileAt, tileBounds, tileRange, zoomForResolution } from './tile.matrix.set.ts';
import { projector, WEB_MERCATOR, WGS84 } from './projection.ts';

test('tile bounds tile the Web Mercator square', () => {
  assert.deepEqual(tileBounds({ z: 0, x: 0, y: 0 }).toArray(), [-ORIGIN_SHIFT, -ORIGIN_SHIFT, ORIGIN_SHIFT, ORIGIN_SHIFT]);
  const b = tileBounds({ z: 1, x: 1, y: 0 });
  assert.deepEqual(b.toArray(), [0, 0, ORIGIN_SHIFT, ORIGIN_SHIFT]);
  const t = tileBounds({ z: 12, x: 655, y: 1583 });
  assert.ok(Math.abs(t.width - (2 * ORIGIN_SHIFT) / 4096) < 1e-6);
});

test('tileAt inverts tileBounds; tileRange covers an extent', () => {
  for (const tile of [{ z: 5, x: 3, y: 17 }, { z: 18, x: 44930, y: 101880 }]) {
    const [cx, cy] = tileBounds(tile).center;
    assert.deepEqual(tileAt(cx, cy, tile.z), tile);
  }
  const r = tileRange(tileBounds({ z: 10, x: 5, y: 7 }).union(tileBounds({ z: 10, x: 6, y: 9 })), 10);
  assert.deepEqual(r, { minX: 5, minY: 7, maxX: 6, maxY: 9 });
});

test('pixel <-> metres and zoom for resolution', () => {
  const [px, py] = metresToPixel(1234.5, -9876.25, 7);
  const [mx, my] = pixelToMetres(px, py, 7);
  assert.ok(Math.abs(mx - 1234.5) < 1e-6 && Math.abs(my + 9876.25) < 1e-6);
  assert.equal(zoomForResolution(resolutionAt(17)), 17);
  assert.equal(zoomForResolution(resolutionAt(17) * 0.9), 18);
  assert.equal(zoomForResolution(resolutionAt(17) * 1.1), 17);
});

test('spherical lon/lat helpers agree with proj4 EPSG:3857', () => {
  const fwd = projector(WGS84, WEB_MERCATOR);
  for (const [lon, lat] of [[-119.72, 37.1], [175.4, -40.92], [0, 0]]) {
    const [a, b] = lonLatToMercator(lon, lat);
    const [c, d] = fwd(lon, lat);
    assert.ok(Math.abs(a - c) < 1e-6 && Math.abs(b - d) < 1e-6);
    const [lo, la] = mercatorToLonLat(a, b);
    assert.ok(Math.abs(lo - lon) < 1e-9 && Math.abs(la - lat) < 1e-9);
  }
});

test('tile validity', () => {
  assert.ok(isValidTile({ z: 3, x: 7, y: 7 }));
  assert.ok(!isValidTile({ z: 3, x: 8, y: 0 }));
  assert.ok(!isValidTile({ z: -1, x: 0, y: 0 }));
  assert.ok(!isValidTile({ z: 2, x: 0.5, y: 0 }));
});

test('Bounds are immutable values with projection by densified edges', () => {
  const a = new Bounds(0, 0, 10, 10);
  const b = a.pad(1);
  assert.deepEqual(a.toArray(), [0, 0, 10, 10]);
  assert.deepEqual(b.toArray(), [-1, -1, 11, 11]);
  assert.equal(a.intersection(new Bounds(20, 20, 30, 30)), null);
  assert.deepEqual(a.intersection(new Bounds(5, -5, 15, 5))!.toArray(), [5, 0, 10, 5]);
  // a bent edge: the projected footprint holds the curved edge's extreme, not just the corners
  const bent = new Bounds(-1, 0, 1, 1).project((x, y) => [x, y + (1 - x * x)]);
  assert.ok(bent.maxY > 1.99, `maxY ${bent.maxY}`);
  assert.deepEqual(Bounds.fromGrid([100, 2, 0, 50, 0, -2], 10, 5).toArray(), [100, 40, 120, 50]);
});
