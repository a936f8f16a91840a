import { test } from 'node:test';
import assert from 'node:assert/strict';
import { area as turfArea } from '@turf/turf';
import {
  containsPoint, parseRegion, planarParts, regionSpans, regionToPlanar, regionTouchesGrid, regionWindow, signedArea,
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
  rejects({ type: 'Feature', properties: {}, geometry: null }, InvalidInputError, /^region Feature has no geometry$/);
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
  // the spans as a mask; they come in row-major order and never overlap (the export relies on it)
  const mask = new Uint8Array(win.width * win.height);
  let last = -1;
  regionSpans(planar, grid, win, (row, c0, c1) => {
    assert.ok(row * win.width + c0 > last && c1 >= c0, `span (${row}, ${c0}..${c1}) after pixel ${last}`);
    last = row * win.width + c1;
    mask.fill(1, row * win.width + c0, row * win.width + c1 + 1);
  });
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

/** Closed square ring, counter-clockwise, from (x, y) with side d degrees. */
function box(x: number, y: number, d: number): number[][] {
  return [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]];
}

test('overlapping polygons and misplaced holes are rejected, with where: even-odd would disagree with the area', () => {
  // two polygons overlapping by half: the area would count the overlap twice, even-odd not at all
  rejects({ type: 'MultiPolygon', coordinates: [[box(10, 50, 0.01)], [box(10.005, 50, 0.01)]] }, InvalidInputError, /^region polygons 0 and 1 overlap near \[10\.0\d+, 50\.0\d+\]/);
  // one polygon wholly inside another (no edge crosses), and a duplicate: both overlaps
  rejects({ type: 'MultiPolygon', coordinates: [[box(10, 50, 0.01)], [box(10.02, 50, 0.01)], [box(10.022, 50.002, 0.003)]] }, InvalidInputError, /^region polygons 1 and 2 overlap/);
  rejects({ type: 'MultiPolygon', coordinates: [[box(10, 50, 0.01)], [box(10, 50, 0.01)]] }, InvalidInputError, /^region polygons 0 and 1 overlap/);
  // a polygon inside another that shares three of its edges (no edge crosses another)
  rejects({ type: 'MultiPolygon', coordinates: [[box(10, 50, 0.01)], [[[10.005, 50], [10.01, 50], [10.01, 50.01], [10.005, 50.01], [10.005, 50]]]] }, InvalidInputError, /polygons 0 and 1 overlap/);
  // a hole outside its exterior ring, and one larger than it (holding it)
  rejects({ type: 'Polygon', coordinates: [box(10, 50, 0.01), box(10.02, 50.002, 0.002).reverse()] }, InvalidInputError, /^polygon 0: ring 1, a hole, reaches outside the exterior ring near \[10\.02\d+, 50\.00\d+\]/);
  rejects({ type: 'Polygon', coordinates: [box(10.002, 50.002, 0.002), box(10, 50, 0.01).reverse()] }, InvalidInputError, /^polygon 0: ring 1, a hole, reaches outside/);
  // nested holes, in the second polygon
  rejects({ type: 'MultiPolygon', coordinates: [[box(9, 50, 0.01)], [box(10, 50, 0.01), box(10.002, 50.002, 0.006).reverse(), box(10.003, 50.003, 0.001).reverse()]] }, InvalidInputError, /^polygon 1: holes \(rings 1 and 2\) overlap/);
});

test('polygons and holes that only touch are valid, and even-odd then matches the area', () => {
  // an island inside a lake (a polygon inside another's hole), and a field with a pond beside it,
  // sharing an edge
  const lake = [box(10, 50, 0.01), box(10.002, 50.002, 0.006).reverse()];
  const island = [box(10.004, 50.004, 0.002)];
  const field = [box(10.01, 50, 0.01), box(10.012, 50.001, 0.002).reverse()];
  const region = parseRegion({ type: 'MultiPolygon', coordinates: [lake, island, field] });
  const expected = turfArea({ type: 'MultiPolygon', coordinates: [lake, island, field] } as GeoJSON.MultiPolygon);
  assert.ok(Math.abs(region.areaM2 - expected) < 1e-6, `${region.areaM2} vs ${expected}`);
  const planar = regionToPlanar(region, (lon, lat) => [lon, lat]);
  assert.equal(containsPoint(planar, 10.001, 50.001), true, 'land around the lake');
  assert.equal(containsPoint(planar, 10.003, 50.003), false, 'the lake');
  assert.equal(containsPoint(planar, 10.005, 50.005), true, 'the island');
  assert.equal(containsPoint(planar, 10.015, 50.005), true, 'the field');
  assert.equal(containsPoint(planar, 10.013, 50.002), false, 'the pond');
});

test('overlap checks stay bounded: crossing fans and stacked squares are caught, long edges side by side hit a 4xx limit', () => {
  const strip = (o: number, top: number) => [[[10 + o, 50], [10.00001 + o, 50], [10.05 + o, 50.05], [10.05 - top + o, 50.05], [10 + o, 50]]];
  // thin triangles whose edges all cross each other (millions of crossings for a clipping library)
  rejects({ type: 'MultiPolygon', coordinates: Array.from({ length: 500 }, (_, i) => strip(i * 1e-5, 0.01)) }, InvalidInputError, /^region polygons 0 and \d+ overlap near/);
  // squares shifted by a hair: edges overlap along their length without crossing
  rejects({ type: 'MultiPolygon', coordinates: Array.from({ length: 500 }, (_, i) => [box(10 + i * 1e-6, 50, 0.01)]) }, InvalidInputError, /^region polygons 0 and 1 overlap/);
  // 3999 long thin strips side by side: valid, but every edge beside every other
  rejects({ type: 'MultiPolygon', coordinates: Array.from({ length: 3999 }, (_, i) => strip(i * 1e-5, 1e-5)) }, LimitExceededError, /too intricate to check/, { maxAreaKm2: 1e6, maxVertices: 20000 });
});

test('an overlap between two slab middle lines is caught by its crossing edges; edges sharing a sloped line are not an overlap', () => {
  const at = (X: number, Y: number) => [10 + X * 0.001, 50 + Y * 0.001];
  // all vertices at Y 0 or 10: one slab, its middle line at Y 5, where the two are still apart;
  // the edges cross at Y 6 and the polygons overlap above it
  const p = [at(0, 0), at(1, 0), at(3, 10), at(0, 10), at(0, 0)];
  const q = [at(2.5, 0), at(4, 0), at(4, 10), at(2, 10), at(2.5, 0)];
  rejects({ type: 'MultiPolygon', coordinates: [[p], [q]] }, InvalidInputError, /^region polygons 0 and 1 overlap near \[10\.00220\d+, 50\.00600\d+\]/);
  // triangles on either side of sloped lines, one ending part way along the other's edge (at a
  // point rounded to one side of it, as any tool's output is): touching, not overlapping, though
  // the edge's position on middle lines differs by round-off
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const fields: number[][][][] = [];
  for (let k = 0; k < 300; k++) {
    const x = 10 + k * 0.00037, y = 50 + rnd() * 0.001;
    const P = [x, y], Q = [x + 0.0001 + rnd() * 0.0002, y + 0.0003 + rnd() * 0.0005], t = 0.2 + rnd() * 0.6;
    const M = [P[0] + t * (Q[0] - P[0]), P[1] + t * (Q[1] - P[1])];
    fields.push([[P, [x + 0.00033, y], Q, P]]);
    fields.push([[P, M, [x - 0.00001, y + 0.0002], P]]);
  }
  const region = parseRegion({ type: 'MultiPolygon', coordinates: fields }, { maxAreaKm2: 25, maxVertices: 20000 });
  assert.ok(region.areaM2 > 0);
});

test('a FeatureCollection (as GIS tools export) is its polygons taken together, checked like a MultiPolygon', () => {
  const fc = (geoms: unknown[]) => ({ type: 'FeatureCollection', features: geoms.map((geometry) => ({ type: 'Feature', properties: {}, geometry })) });
  const a = { type: 'Polygon', coordinates: [box(10, 50, 0.01)] };
  const b = { type: 'MultiPolygon', coordinates: [[box(10.02, 50, 0.01)], [box(10.04, 50, 0.01)]] };
  const r = parseRegion(fc([a, b]));
  assert.equal(r.geometry.coordinates.length, 3);
  assert.ok(Math.abs(r.areaM2 - 3 * parseRegion(a).areaM2) < 1e-3 * r.areaM2);
  rejects(fc([a, { type: 'Point', coordinates: [10, 50] }]), InvalidInputError, /^region FeatureCollection: feature 1 must be a Polygon or MultiPolygon, got "Point"/);
  rejects(fc([]), InvalidInputError, /has no features/);
  rejects(fc([a, a]), InvalidInputError, /^region feature 0 and feature 1 overlap/);
});

test('a FeatureCollection of several features keeps each feature as a part: its polygons, id, properties and area', () => {
  const at = (lon: number) => ({ type: 'Polygon', coordinates: [[[lon, 50], [lon + 0.001, 50], [lon + 0.001, 50.001], [lon, 50.001], [lon, 50]]] });
  const two = { type: 'MultiPolygon', coordinates: [at(10.01).coordinates, at(10.02).coordinates] };
  const r = parseRegion({
    type: 'FeatureCollection', features: [
      { type: 'Feature', id: 'a', properties: { stand: 12 }, geometry: at(10) },
      { type: 'Feature', id: 3, properties: ['not', 'an', 'object'], geometry: two },
      { type: 'Feature', id: { no: 1 }, properties: null, geometry: at(10.03) },
    ],
  });
  assert.equal(r.geometry.coordinates.length, 4);
  assert.deepEqual(r.parts!.map((p) => [p.feature, p.id, p.properties, p.polygons]), [[0, 'a', { stand: 12 }, 1], [1, 3, null, 2], [2, null, null, 1]]);
  assert.ok(Math.abs(r.parts![1].areaM2 - turfArea(two as GeoJSON.MultiPolygon)) < 1e-6);
  assert.ok(Math.abs(r.parts!.reduce((a, p) => a + p.areaM2, 0) - r.areaM2) < 1e-6);
  // each part's planar region: its own rings of the whole region's, here in lon/lat as they are
  const planar = regionToPlanar(r, (lon, lat) => [lon, lat]);
  const parts = planarParts(r, planar);
  assert.equal(parts.length, 3);
  assert.deepEqual(parts.map((p) => p.rings.length), [1, 2, 1]);
  assert.equal(parts[1].rings[0], planar.rings[1]);
  assert.equal(parts[2].rings[0], planar.rings[3]);
  assert.deepEqual(parts[1].bbox, [10.01, 50, 10.02 + 0.001, 50.001]);
  assert.deepEqual(parts[0].bbox, [10, 50, 10.001, 50.001]);
  // one feature, a bare geometry or a bbox: no parts
  assert.equal(parseRegion({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry: two }] }).parts, undefined);
  assert.equal(parseRegion(two).parts, undefined);
  assert.equal(parseRegion([10, 50, 10.01, 50.01]).parts, undefined);
});

test('in a FeatureCollection of several features, errors name the feature (and its id), not a polygon of the merged region', () => {
  const sq = (lon: number, lat = 50, s = 0.001) => [[[lon, lat], [lon + s, lat], [lon + s, lat + s], [lon, lat + s], [lon, lat]]];
  const fc = (...geometries: unknown[]) => ({ type: 'FeatureCollection', features: geometries.map((g, i) => ({ type: 'Feature', ...(i === 1 ? { id: 'B7' } : {}), properties: {}, geometry: g })) });
  const poly = (coordinates: unknown) => ({ type: 'Polygon', coordinates });
  // two stands overlapping: clip or merge, not "merge the polygons of a MultiPolygon"
  rejects(fc(poly(sq(10)), poly(sq(10.0005))), InvalidInputError, /^region feature 0 and feature 1 \(id "B7"\) overlap near \[.*\]; the features of a region must not overlap \(clip one by the other, or merge them\)$/);
  // a feature of two polygons that overlap each other
  rejects(fc(poly(sq(11)), { type: 'MultiPolygon', coordinates: [sq(10), sq(10.0005)] }), InvalidInputError, /^region feature 1 \(id "B7"\) polygon 0 and feature 1 \(id "B7"\) polygon 1 overlap near .*merge them into one\)$/);
  // a broken ring in the third feature (first positions then checked as the merged region's)
  const open = [[[12, 50], [12.001, 50], [12.001, 50.001], [12, 50.001]]];
  rejects(fc(poly(sq(10)), poly(sq(10.01)), poly(open)), InvalidInputError, /^feature 2 ring 0: ring is not closed/);
  rejects(fc(poly(sq(10)), poly([[[10.01, 50], [10.011, 50.001], [10.011, 50], [10.01, 50.001], [10.01, 50]]])), InvalidInputError, /^region feature 1 \(id "B7"\) intersects itself near/);
  // a position that is not [lon, lat], met while reading the feature
  rejects(fc(poly(sq(10)), poly([[[10.01, 50], [10.011, 'x'], [10.011, 50.001], [10.01, 50]]])), InvalidInputError, /^region FeatureCollection: feature 1 \(id "B7"\): polygon 0 ring 0 position 1: must be \[lon, lat\]/);
  // a MultiPolygon keeps naming its polygons
  rejects({ type: 'MultiPolygon', coordinates: [sq(10), sq(10.0005)] }, InvalidInputError, /^region polygons 0 and 1 overlap near .*merge them into one\)$/);
});
