import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorMessageFrom, normaliseRaster } from './api.ts';

test('server error text is shown in words, prefixed by the action', () => {
  assert.equal(errorMessageFrom(400, { error: 'region is outside the raster', status: 400 }, 'Starting the region job'),
    'Starting the region job: region is outside the raster');
  assert.equal(errorMessageFrom(413, null, 'Uploading the raster'), 'Uploading the raster: it is too large');
  assert.equal(errorMessageFrom(418, {}, 'Doing it'), 'Doing it: the server answered 418');
});

test('raster records are normalised with their WGS84 bounds', () => {
  const r = normaliseRaster({ id: 'demo', name: 'demo.tif', role: 'image', width: 10, height: 20, bandCount: 3, wgs84Bounds: [1, 2, 3, 4] });
  assert.deepEqual(r.bounds, [1, 2, 3, 4]);
  assert.equal(r.bands, 3);
  assert.equal(r.role, 'image');
  assert.equal(normaliseRaster({ id: 'x', wgs84Bounds: [1, 2, 3] }).bounds, null);
});
