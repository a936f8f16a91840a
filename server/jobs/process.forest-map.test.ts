import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExecuteRequest } from './process.forest-map.ts';

const box = [-122.25, 44.24, -122.24, 44.25];

test('the bbox input: a plain array, or an OGC bounding box in CRS84 (by any of its names), all the same region', () => {
  const plain = parseExecuteRequest({ inputs: { raster: 'r', bbox: box } }).region;
  for (const crs of [undefined, 'http://www.opengis.net/def/crs/OGC/1.3/CRS84', 'urn:ogc:def:crs:OGC:1.3:CRS84', 'EPSG:4326']) {
    const ogc = parseExecuteRequest({ inputs: { raster: 'r', bbox: { bbox: box, ...(crs ? { crs } : {}) } } }).region;
    assert.deepEqual(ogc, plain, String(crs));
  }
  assert.deepEqual(plain, box, 'the corners, for planning to validate');
});

test('a bbox in another CRS, or a crs that is not a CRS name, is refused with the reason', () => {
  for (const crs of ['http://www.opengis.net/def/crs/EPSG/0/32610', 'EPSG:43260', 42]) {
    assert.throws(() => parseExecuteRequest({ inputs: { raster: 'r', bbox: { bbox: box, crs } } }), /input "bbox" crs must be WGS84 \(OGC CRS84\)/, String(crs));
  }
});
