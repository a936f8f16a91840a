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

test('a CRS in feet converts the GSD', () => {
  const ft: Grid = { width: 100, height: 100, transform: [0, 1, 0, 0, 0, -1], crs: { ...utm, units: 'ft' } };
  assert.ok(Math.abs(gridGsd(ft)[0] - 0.3048) < 1e-12);
});

test('rasters in degrees or Mercator get their CHM grid in the UTM zone of their centre, covering their footprint at the model GSD', () => {
  const wgs = WGS84, merc = crsFromEpsg(3857);
  // about 1 km around 50.1 N, 8.7 E (Frankfurt, UTM 32N), and 1 km around 41.3 S, 174.8 E (Wellington, UTM 60S)
  for (const [lon, lat, zone] of [[8.7, 50.1, 32632], [174.8, -41.3, 32760]] as const) {
    for (const crs of [wgs, merc]) {
      const [x, y] = projector(WGS84, crs)(lon, lat);
      const step = crs === wgs ? 5e-6 : 0.4;
      const n = crs === wgs ? 2000 : 3000;
      const g: Grid = { width: n, height: n, transform: [x, step, 0, y, 0, -step], crs };
      const m = modelGrid(g, 0.5);
      assert.equal(m.crs.epsg, zone, `${crs.epsg} at ${lon},${lat}`);
      assert.deepEqual([m.transform[1], m.transform[2], m.transform[4], m.transform[5]], [0.5, 0, 0, -0.5]);
      assert.equal(m.transform[0] % 0.5, 0, 'origin on a multiple of the GSD');
      // every source corner lies inside the grid, and no side has more than a pixel to spare past the footprint
      const toUtm = projector(crs, m.crs);
      const corners = [[0, 0], [n, 0], [n, n], [0, n]].map(([c, r]) => toUtm(x + c * step, y - r * step));
      const [x0, y1] = [m.transform[0], m.transform[3]], x1 = x0 + m.width * 0.5, y0 = y1 - m.height * 0.5;
      for (const [cx, cy] of corners) assert.ok(cx >= x0 && cx <= x1 && cy >= y0 && cy <= y1, `corner ${cx},${cy} inside`);
      assert.ok(Math.min(...corners.map((c) => c[0])) - x0 < 0.5 + 1e-9 && x1 - Math.max(...corners.map((c) => c[0])) < 0.5 + 1e-9);
      assert.ok(y1 - Math.max(...corners.map((c) => c[1])) < 0.5 + 1e-9 && Math.min(...corners.map((c) => c[1])) - y0 < 0.5 + 1e-9);
      // its 0.5 m pixels are 0.5 m on the ground: the footprint's middle row, measured in grid units
      // and by turf's great-circle distance independently (UTM's scale error is under 0.1% here)
      const toWgs = projector(crs, WGS84);
      const left = [x, y - (n / 2) * step] as const, right = [x + n * step, y - (n / 2) * step] as const;
      const across = turfDistance(toWgs(...left), toWgs(...right), { units: 'meters' });
      const [ax, ay] = toUtm(...left), [bx, by] = toUtm(...right);
      assert.ok(Math.abs(Math.hypot(bx - ax, by - ay) - across) / across < 0.003, `${crs.epsg}: ${Math.hypot(bx - ax, by - ay)} grid metres, ${across} m on the ground`);
    }
  }
});

test('a raster in degrees past UTM\'s latitudes, or reaching far from its zone, is refused saying how to reproject', () => {
  const polar: Grid = { width: 100, height: 100, transform: [10, 1e-4, 0, 86, 0, -1e-4], crs: WGS84 };
  assert.throws(() => modelGrid(polar, 0.5), /outside UTM's latitudes .*reproject/);
  const wide: Grid = { width: 100, height: 100, transform: [0, 0.2, 0, 10, 0, -0.01], crs: WGS84 };
  assert.throws(() => modelGrid(wide, 0.5), /spans more than 9° of longitude .*split it, or reproject/);
});

test('tree detection refuses a CHM in Mercator or degrees, saying how to reproject', () => {
  assert.throws(() => unitScale(crsFromEpsg(3857)), /Mercator projection .*reproject it to a projected CRS of the area first/);
  assert.throws(() => unitScale(crsFromEpsg(4326)), /geographic coordinates \(degrees\).*gdalwarp -t_srs EPSG:326NN/);
  assert.equal(unitScale(crsFromEpsg(32632)), 1);
});

test('a window grid is shifted by the window origin', () => {
  const g: Grid = { width: 500, height: 300, transform: [10, 2, 0, 20, 0, -2], crs: utm };
  assert.deepEqual(windowGrid(g, { x: 3, y: 4, width: 8, height: 9 }).transform, [16, 2, 0, 12, 0, -2]);
});
