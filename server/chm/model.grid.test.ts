import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Grid } from '../raster/types.ts';
import { distance as turfDistance } from '@turf/turf';
import { gridGsd, modelGrid, windowGrid } from './model.grid.ts';
import { crsFromEpsg, projector, WGS84 } from '../../tiles/projection.ts';
import { unitScale } from '../trees/detect.ts';

const utm: Grid['crs'] = { epsg: 32610, proj4: '+proj=utm +zone=10 +datum=WGS84 +units=m +no_defs', name: 'WGS 84 / UTM zone 10N', units: 'm' };

test('a source at the model GSD keeps its own grid', () => {
  const g: Grid = { width: 500, height: 300, transform: [500000, 0.5, 0, 5000000, 0, -0.5], crs: utm };
  assert.equal(modelGrid(g, 0.5), g);
});

test('a finer or coarser source maps to the same extent and origin at the model GSD', () => {
  const fine: Grid = { width: 1000, height: 601, transform: [500000, 0.1, 0, 5000000, 0, -0.1], crs: utm };
  const m = modelGrid(fine, 0.5);
  assert.deepEqual([m.width, m.height], [200, 121]);
  assert.deepEqual(m.transform, [500000, 0.5, 0, 5000000, 0, -0.5]);
  const coarse: Grid = { width: 100, height: 100, transform: [500000, 1, 0, 5000000, 0, -1], crs: utm };
  const c = modelGrid(coarse, 0.6);
  assert.deepEqual([c.width, c.height], [167, 167]);
  assert.ok(Math.abs(c.transform[1] - 0.6) < 1e-12 && Math.abs(c.transform[5] + 0.6) < 1e-12);
  assert.ok(c.width * 0.6 >= 100 && (c.width - 1) * 0.6 < 100, 'covers the extent with less than one extra pixel');
});

test('feet and degree CRSs convert the GSD', () => {
  const ft: Grid = { width: 100, height: 100, transform: [0, 1, 0, 0, 0, -1], crs: { ...utm, units: 'ft' } };
  assert.ok(Math.abs(gridGsd(ft)[0] - 0.3048) < 1e-12);
  const deg: Grid = { width: 100, height: 100, transform: [-120, 1e-5, 0, 45.001, 0, -1e-5], crs: { ...utm, units: 'degree' } };
  const [gx, gy] = gridGsd(deg);
  assert.ok(Math.abs(gx - 0.787) < 0.01 && Math.abs(gy - 1.111) < 0.01, `${gx} ${gy}`);
});

test('Web Mercator and World Mercator pixels are measured on the ground: cos(latitude) of their units', () => {
  for (const epsg of [3857, 3395]) {
    const crs = crsFromEpsg(epsg);
    // 0.5 unit pixels around 50.1 N, 8.7 E (Frankfurt)
    const [x, y] = projector(WGS84, crs)(8.7, 50.1);
    const g: Grid = { width: 2000, height: 2000, transform: [x - 500, 0.5, 0, y + 500, 0, -0.5], crs };
    const [gx, gy] = gridGsd(g);
    // independently: turf's great-circle distance across the grid, along a row and a column
    const toWgs = projector(crs, WGS84);
    const across = turfDistance(toWgs(x - 500, y), toWgs(x + 500, y), { units: 'meters' }) / 2000;
    const down = turfDistance(toWgs(x, y + 500), toWgs(x, y - 500), { units: 'meters' }) / 2000;
    assert.ok(Math.abs(gx - across) / across < 0.005, `EPSG:${epsg} x: ${gx} vs ${across} m`);
    assert.ok(Math.abs(gy - down) / down < 0.01, `EPSG:${epsg} y: ${gy} vs ${down} m`);
    assert.ok(gx > 0.31 && gx < 0.33, `about 0.5 cos(50.1) m, got ${gx}`);
    // the model grid at 0.5 m therefore has fewer, larger units than the source
    assert.ok(Math.abs(modelGrid(g, 0.5).width - Math.ceil(2000 * gx / 0.5)) <= 1);
  }
});

test('tree detection refuses Mercator and geographic rasters, saying how to reproject', () => {
  assert.throws(() => unitScale(crsFromEpsg(3857)), /Mercator projection .*reproject it to a projected CRS of the area first/);
  assert.throws(() => unitScale(crsFromEpsg(4326)), /geographic coordinates \(degrees\).*gdalwarp -t_srs EPSG:326NN/);
  assert.equal(unitScale(crsFromEpsg(32632)), 1);
});

test('a window grid is shifted by the window origin', () => {
  const g: Grid = { width: 500, height: 300, transform: [10, 2, 0, 20, 0, -2], crs: utm };
  assert.deepEqual(windowGrid(g, { x: 3, y: 4, width: 8, height: 9 }).transform, [16, 2, 0, 12, 0, -2]);
});
