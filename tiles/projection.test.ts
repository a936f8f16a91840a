import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { InvalidInputError } from '../server/errors.ts';
import { crsFromEpsg, projector, tryCrsFromEpsg, WEB_MERCATOR, WGS84 } from './projection.ts';

const gdaltransform = spawnSync('gdaltransform', ['--version'], { stdio: 'ignore' }).status === 0;

/** GDAL's answer for a point, for codes where GDAL and the EPSG default proj4 agree on the datum. */
function viaGdal(from: number, to: number, x: number, y: number): [number, number] {
  const r = spawnSync('gdaltransform', ['-s_srs', `EPSG:${from}`, '-t_srs', `EPSG:${to}`, '-output_xy'], { input: `${x} ${y}\n`, encoding: 'utf8' });
  const [a, b] = r.stdout.trim().split(/\s+/).map(Number);
  return [a, b];
}

test('EPSG codes resolve from epsg-index with units and names', () => {
  for (const code of [32610, 32611, 32616, 32617, 32619, 32633, 32755]) {
    const crs = crsFromEpsg(code);
    assert.equal(crs.epsg, code);
    assert.equal(crs.units, 'm');
    assert.match(crs.proj4, /\+proj=utm/);
  }
  assert.equal(crsFromEpsg(2193).units, 'm');
  assert.match(crsFromEpsg(2193).proj4, /\+proj=tmerc/);
  assert.equal(crsFromEpsg(4326).units, 'degree');
  assert.equal(crsFromEpsg(3857).units, 'm');
  assert.equal(crsFromEpsg(2994).units, 'ft');
  assert.equal(WGS84.epsg, 4326);
  assert.equal(WEB_MERCATOR.epsg, 3857);
});

test('unknown codes: tryCrsFromEpsg gives null, crsFromEpsg throws InvalidInputError', () => {
  for (const code of [0, -5, 1, 999999, 1.5, 7030 /* an ellipsoid, not a CRS */, 9001 /* geocentric: no map plane */]) {
    assert.equal(tryCrsFromEpsg(code), null, `code ${code}`);
    assert.throws(() => crsFromEpsg(code), InvalidInputError);
  }
});

test('projector round-trips and matches GDAL to centimetres', { skip: gdaltransform ? false : 'gdaltransform not installed' }, () => {
  const cases: Array<[number, number, number]> = [
    [32611, 257977, 4110488], [32617, 399500, 3284500], [32619, 315000, 4880000], [2193, 1802278, 5467393], [3857, -13330000, 4460000],
  ];
  for (const [code, x, y] of cases) {
    const fwd = projector(crsFromEpsg(code), WGS84);
    const [lon, lat] = fwd(x, y);
    const [glon, glat] = viaGdal(code, 4326, x, y);
    assert.ok(Math.abs(lon - glon) < 1e-7 && Math.abs(lat - glat) < 1e-7, `EPSG:${code} ${lon},${lat} vs GDAL ${glon},${glat}`);
    const [bx, by] = projector(WGS84, crsFromEpsg(code))(lon, lat);
    assert.ok(Math.abs(bx - x) < 1e-4 && Math.abs(by - y) < 1e-4, `EPSG:${code} round trip`);
  }
});

test('EPSG:2994 (international feet) matches PROJ with the same definition', { skip: gdaltransform ? false : 'gdaltransform not installed' }, () => {
  const crs = crsFromEpsg(2994);
  const [lon, lat] = projector(crs, WGS84)(1246100, 875900);
  const r = spawnSync('gdaltransform', ['-s_srs', crs.proj4, '-t_srs', 'EPSG:4326', '-output_xy'], { input: '1246100 875900\n', encoding: 'utf8' });
  const [glon, glat] = r.stdout.trim().split(/\s+/).map(Number);
  assert.ok(Math.abs(lon - glon) < 1e-8 && Math.abs(lat - glat) < 1e-8, `${lon},${lat} vs ${glon},${glat}`);
  // one foot east is 0.3048 m east on the ground
  const [lon2] = projector(crs, WGS84)(1246101, 875900);
  const metres = (lon2 - lon) * (Math.PI / 180) * 6378137 * Math.cos((lat * Math.PI) / 180);
  assert.ok(Math.abs(metres - 0.3048) < 0.01, `1 ft -> ${metres} m`);
});
