import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as server from '../../../server/features/mvt.ts';
import { CROWNS_MIN_ZOOM, TILES_MAX_ZOOM, TOPS_MIN_ZOOM, metresPerPixel } from './trees.ts';

test('the tree layers ask for the zooms the tile server cuts', () => {
  assert.equal(TOPS_MIN_ZOOM, server.TOPS_MIN_ZOOM);
  assert.equal(CROWNS_MIN_ZOOM, server.CROWNS_MIN_ZOOM);
  assert.equal(TILES_MAX_ZOOM, server.TREES_MAX_ZOOM);
});

test('metres per pixel halves with each zoom and shrinks with latitude', () => {
  assert.ok(Math.abs(metresPerPixel(0, 0) - 78271.517) < 0.01);
  assert.ok(Math.abs(metresPerPixel(18, 0) * 2 - metresPerPixel(17, 0)) < 1e-9);
  assert.ok(Math.abs(metresPerPixel(18, 60) - metresPerPixel(18, 0) / 2) < 1e-6);
});
