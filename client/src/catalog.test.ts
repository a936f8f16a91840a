import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RasterInfo } from './api.ts';
import { chmFor, imageFor, nativeZoom } from './catalog.ts';

function raster(id: string, role: string, bounds: [number, number, number, number], sourceId: string | null = null): RasterInfo {
  return { id, name: id, role, bounds, width: 1, height: 1, bands: role === 'chm' ? 1 : 3, gsd: 0.5, sourceId, version: '' };
}

test('a raster finds its own CHM, a derived CHM, or one over the same extent', () => {
  const img = raster('img', 'image', [1, 2, 3, 4]);
  const other = raster('other', 'image', [10, 20, 30, 40]);
  const derived = raster('img-chm', 'chm', [1, 2, 3.00001, 4], 'img');
  const lidar = raster('lidar', 'chm', [10, 20, 30, 40]);
  const all = [img, other, derived, lidar];
  assert.equal(chmFor(img, all)?.id, 'img-chm');
  assert.equal(chmFor(other, all)?.id, 'lidar');
  assert.equal(chmFor(lidar, all)?.id, 'lidar');
  assert.equal(chmFor(raster('lonely', 'image', [50, 50, 51, 51]), all), null);
  assert.equal(imageFor(derived, all).id, 'img');
  assert.equal(imageFor(lidar, all).id, 'other');
});

test('native zoom follows the ground sample distance', () => {
  // 0.5 m at the equator: 156543/2^z = 0.5 -> z = 18.26 -> 19
  assert.equal(nativeZoom(0.5, 0), 19);
  assert.equal(nativeZoom(1, 0), 18);
  assert.equal(nativeZoom(null, 0), 20);
});
