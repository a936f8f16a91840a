import { test } from 'node:test';
import assert from 'node:assert/strict';
import { area as turfArea } from '@turf/turf';
import {
  containsPoint, parseRegion, regionMask, regionToPlanar, regionTouchesGrid, regionWindow, signedArea,
} from '../server/features/region.ts';
import { InvalidInputError, LimitExceededError } from '../server/errors.ts';
import { crsFromEpsg, projector, WGS84 } from '../tiles/projection.ts';
import type { Grid } from '../server/raster/types.ts';

const square = { type: 'Polygon', coordinates: [[[10, 50], [10.01, 50], [10.01, 50.01], [10, 50.01], [10, 50]]] };

test('a polygon becomes a CCW MultiPolygon with its geodesic area and bbox', () => {
  const cw = { type: 'Polygon', coordinates: [[...square.coordinates[0]].reverse()] };
  const r = parseRegion(cw);
  assert.equal(r.geometry.type, 'MultiPolygon');
  assert.ok(signedArea(r.geometry.coordinates[0][0]) > 0, 'exterior ring is counter-clockwise');
  assert.equal(r.areaM2, turfArea(square as GeoJSON.Polygon));
  assert.deepEqual(r.bbox, [10, 50, 10.01, 50.01]);
});

test('a bbox array and a Feature are accepted', () => {
  const a = parseRegion([10, 50, 10.01, 50.01]);
  const b = parseRegion({ type: 'Feature', properties: {}, geometry: square });
  assert.ok(Math.abs(a.areaM2 - b.areaM2) < 1e-6);
  // about 0.01 deg lon x 0.01 deg lat at 50 N: 716 m x 1113 m
  assert.ok(a.areaM2 > 0.78e6 && a.areaM2 < 0.82e6, `area ${a.areaM2}`);
});

function rejects(input: unknown, kind: typeof InvalidInputError | typeof LimitExceededError, pattern: RegExp, limits?: Parameters<typeof parseRegion>[1]) {
  assert.throws(() => parseRegion(input, limits), (err: unknown) => {
    assert.ok(err instanceof kind, `expected ${kind.name}, got ${String(err)}`);
    assert.match((err as Error).message, pattern);
    return true;
  });
}

test('invalid regions are rejected with what is wrong', () => {
  rejects('x', InvalidInputError, /GeoJSON Polygon or MultiPolygon/);
  rejects({ type: 'Point', coordinates: [1, 2] }, InvalidInputError, /Polygon or MultiPolygon, got "Point"/);
  rejects({ type: 'Polygon', coordinates: [] }, InvalidInputError, /non-empty array/);
  rejects({ type: 'Polygon', coordinates: [[[0, 0], [1, 0], ['a', 1], [0, 0]]] }, InvalidInputError, /position 2: must be \[lon, lat\]/);
  rejects({ type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1]]] }, InvalidInputError, /not closed/);
  rejects({ type: 'Polygon', coordinates: [[[0, 0], [1, 0], [0, 0]]] }, InvalidInputError, /at least 4 positions/);
  rejects({ type: 'Polygon', coordinates: [[[500000, 0], [500001, 0], [500001, 1], [500000, 0]]] }, InvalidInputError, /longitude 500000 is outside/);
  rejects({ type: 'Polygon', coordinates: [[[0, 0], [0.01, 0.01], [0.01, 0], [0, 0.01], [0, 0]]] }, InvalidInputError, /intersects itself/);
  rejects([1, 2, 3], InvalidInputError, /bbox must be/);
  rejects([2, 0, 1, 1], InvalidInputError, /minLon/);
  rejects([0, 0, 1, 1], LimitExceededError, /exceeds the limit of 25 km²/);
  rejects(square, LimitExceededError, /vertices/, { maxAreaKm2: 25, maxVertices: 3 });
});

test('the planar region, point test and pixel mask agree', () => {
  const utm = crsFromEpsg(32632);
  const toUtm = projector(WGS84, utm);
  const region = parseRegion(square);
  const planar = regionToPlanar(region, toUtm);
  // a 10 m grid around the region
  const [w, s, e, n] = planar.bbox;
  const x0 = Math.floor(w / 10) * 10 - 50, y0 = Math.ceil(n / 10) * 10 + 50;
  const grid: Grid = { width: Math.ceil((e - x0) / 10) + 10, height: Math.ceil((y0 - s) / 10) + 10, transform: [x0, 10, 0, y0, 0, -10], crs: utm };
  const win = regionWindow(planar, grid)!;
  const mask = regionMask(planar, grid, win);
  let inside = 0, mismatches = 0;
  for (let r = 0; r < win.height; r++) for (let c = 0; c < win.width; c++) {
    const x = x0 + (win.x + c + 0.5) * 10, y = y0 - (win.y + r + 0.5) * 10;
    const m = mask[r * win.width + c];
    inside += m;
    if ((m === 1) !== containsPoint(planar, x, y)) mismatches++;
  }
  assert.equal(mismatches, 0);
  // pixel count x pixel area approximates the planar area (UTM scale factor ~0.9996^2 aside)
  const planarArea = Math.abs(planar.rings.reduce((a, ring) => a + shoelace(ring), 0));
  assert.ok(Math.abs(inside * 100 - planarArea) / planarArea < 0.01, `${inside * 100} vs ${planarArea}`);
  assert.ok(regionTouchesGrid(planar, grid));
  const far: Grid = { ...grid, transform: [x0 + 1e6, 10, 0, y0, 0, -10] };
  assert.equal(regionTouchesGrid(planar, far), false);
});

function shoelace(ring: Float64Array): number {
  let s = 0;
  const m = ring.length / 2;
  for (let i = 0, j = m - 1; i < m; j = i++) s += ring[2 * j] * ring[2 * i + 1] - ring[2 * i] * ring[2 * j + 1];
  return s / 2;
}
