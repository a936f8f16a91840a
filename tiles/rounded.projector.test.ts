import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoundedProjector } from './rounded.projector.ts';
import { crsFromEpsg, projector, WGS84 } from './projection.ts';

/** Deterministic points: a few km around a lon/lat, with some on cell corners and edges. */
function pointsAround(epsg: number, lon: number, lat: number, spanM: number, n: number, seed = 1): Float64Array {
  const crs = crsFromEpsg(epsg);
  const [cx, cy] = projector(WGS84, crs)(lon, lat);
  const unit = crs.units === 'degree' ? 1 / 111_000 : crs.units === 'm' ? 1 : 1 / 0.3048;
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pts = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    let x = cx + (rand() - 0.5) * spanM * unit, y = cy + (rand() - 0.5) * spanM * unit;
    // every tenth point on a half-metre lattice, as crown vertices are: corners and edges of cells
    if (i % 10 === 0) { x = Math.round(x * 2) / 2; y = Math.round(y * 2) / 2; }
    pts[2 * i] = x; pts[2 * i + 1] = y;
  }
  return pts;
}

const round7 = (v: number) => Math.round(v * 1e7) / 1e7;

function compare(epsg: number, pts: Float64Array, opts: { cellSize?: number } = {}) {
  const crs = crsFromEpsg(epsg);
  const exact = projector(crs, WGS84);
  const fast = new RoundedProjector(crs, WGS84, opts);
  const out = new Float64Array(2);
  let differ = 0;
  for (let i = 0; i < pts.length; i += 2) {
    fast.project(pts[i], pts[i + 1], out, 0);
    const [lon, lat] = exact(pts[i], pts[i + 1]);
    if (out[0] !== round7(lon) || out[1] !== round7(lat)) differ++;
  }
  return { differ, ...fast.counts };
}

test('rounded projection equals proj4 rounded to 7 decimals, point for point, mostly without proj4', () => {
  const cases: Array<[number, number, number]> = [
    [32610, -122.3, 45.8], [32617, -82.04, 29.69], [32755, 147.3, -42.9], [32633, 15.1, 69.6], // UTM north, south, far north
    [2193, 175.4, -40.9], [3035, 10.0, 52.0], [2994, -123.07, 44.05], // NZTM, LAEA Europe, Oregon Lambert in feet
    [3031, 0.5, -75.0], [3413, -45.0, 75.0], [3857, 2.35, 48.85], [4326, 172.6, -43.5], // polar stereographic, web mercator, lon/lat
  ];
  for (const [epsg, lon, lat] of cases) {
    const r = compare(epsg, pointsAround(epsg, lon, lat, 3000, 20_000));
    assert.equal(r.differ, 0, `EPSG:${epsg}: ${r.differ} points differ from proj4`);
    assert.ok(r.interpolated > 0.9 * 20_000, `EPSG:${epsg}: ${r.interpolated} of 20000 interpolated (${r.exact} exact)`);
  }
});

test('cells far too coarse for the map still give exact results: the error bound sends points to proj4', () => {
  // 20 km cells: UTM's curvature over a cell moves the 7th decimal, so many points go exact
  const pts = pointsAround(32610, -122.3, 45.8, 60_000, 20_000, 7);
  const r = compare(32610, pts, { cellSize: 20_000 });
  assert.equal(r.differ, 0);
  assert.ok(r.exact > 1000, `the bound sent ${r.exact} points to proj4`);
});

test('a cell across the antimeridian is never interpolated between -180 and 180', () => {
  // PDC Mercator (EPSG:3832) is centred on 150 E: the antimeridian lies inside its plane
  const r = compare(3832, pointsAround(3832, 180, 10, 2000, 5000, 3));
  assert.equal(r.differ, 0);
});

test('points outside the projection give what rounding proj4 gives there', () => {
  const crs = crsFromEpsg(32610);
  const fast = new RoundedProjector(crs, WGS84);
  const out = new Float64Array(2);
  assert.throws(() => projector(crs, WGS84)(Number.NaN, 5_000_000), /finite/);
  assert.throws(() => fast.project(Number.NaN, 5_000_000, out, 0), /finite/);
  fast.project(1e300, 1e300, out, 0);
  const [lon, lat] = projector(crs, WGS84)(1e300, 1e300);
  assert.deepEqual([...out], [round7(lon), round7(lat)]);
});
