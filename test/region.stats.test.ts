import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantileSorted, RegionStatsAccumulator } from '../server/features/stats.ts';

test('canopy cover counts only region pixels that hold data', () => {
  const acc = new RegionStatsAccumulator();
  // two runs of the region: [0, 6) and [7, 8); the last pixel holds no data, nor do infinities
  const heights = Float32Array.from([0, 1, 3, 6, 10, 20, 30, NaN, Infinity, -Infinity]);
  acc.addChm(heights, 0, 6, 0.25);
  acc.addChm(heights, 7, 10, 0.25);
  const s = acc.result(1e4, 7);
  // region & valid: 0, 1, 3, 6, 10, 20 -> above 2: 4 of 6, above 5: 3 of 6
  assert.equal(s.chm_pixels, 6);
  assert.equal(s.canopy_cover_2m, Math.round((4 / 6) * 1e6) / 1e6);
  assert.equal(s.canopy_cover_5m, 0.5);
  assert.equal(s.canopy_height_m.max, 20);
  assert.equal(s.canopy_height_m.mean, (3 + 6 + 10 + 20) / 4);
  assert.equal(s.area_ha, 1);
});

test('tree statistics are exact and the histogram sums to the count', () => {
  const acc = new RegionStatsAccumulator();
  const hs = [12.5, 3, 7.25, 20, 15, 15.5, 2.1, 9];
  for (const h of hs) acc.addTree(h);
  acc.addChm(new Float32Array(100).fill(10), 0, 100, 200);
  const s = acc.result(2e4, 100);
  const sorted = [...hs].sort((a, b) => a - b);
  assert.equal(s.tree_count, hs.length);
  assert.equal(s.trees_per_ha, hs.length / 2);
  assert.equal(s.tree_height_m.max, 20);
  assert.equal(s.tree_height_m.median, (9 + 12.5) / 2);
  assert.equal(s.tree_height_m.p95, Math.round(quantileSorted(sorted, 0.95) * 1000) / 1000);
  assert.equal(s.height_histogram.counts.reduce((a, b) => a + b, 0), hs.length);
  assert.equal(s.height_histogram.counts[15], 2); // 15 and 15.5 share the bin [15, 16)
  assert.equal(s.height_histogram.edges_m.length, s.height_histogram.counts.length + 1);
});

test('an empty region gives nulls, not NaN', () => {
  const s = new RegionStatsAccumulator().result(5000, 0);
  assert.equal(s.tree_count, 0);
  assert.equal(s.data_coverage, null);
  assert.equal(s.trees_per_ha, 0);
  assert.equal(s.canopy_cover_2m, null);
  assert.equal(s.tree_height_m.mean, null);
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
});

test('trees per ha is over the part of the region holding data, which data_coverage reports', () => {
  const acc = new RegionStatsAccumulator();
  // 40 pixels of 250 m² (1 ha) with data; the region spans 100 such pixels on the lattice (4 ha,
  // partly past the raster's edge or over nodata)
  acc.addChm(Float32Array.from({ length: 50 }, (_, i) => (i < 40 ? 8 : NaN)), 0, 45, 250);
  for (let i = 0; i < 30; i++) acc.addTree(12);
  const s = acc.result(4e4, 100);
  assert.equal(s.area_ha, 4);
  assert.equal(s.data_coverage, 0.4);
  assert.equal(s.data_area_ha, 1.6);
  assert.equal(s.trees_per_ha, 30 / 1.6);
  assert.equal(s.canopy_cover_2m, 1);
});

test('canopy height percentiles never exceed the maximum, however few the pixels', () => {
  const acc = new RegionStatsAccumulator();
  // both pixels in the 2.3-2.4 m bin, whose centre (2.35) lies above them
  acc.addChm(new Float32Array([2.31, 2.32]), 0, 2, 0.25);
  const c = acc.result(0.5, 2).canopy_height_m;
  assert.equal(c.max, 2.32);
  assert.ok(c.median! <= c.max! && c.p95! <= c.max!, JSON.stringify(c));
  assert.ok(c.median! >= 2.3, 'still within the 0.1 m bin of the values');
});
