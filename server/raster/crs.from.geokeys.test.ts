import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnreadableRasterError } from '../errors.ts';
import { crsFromGeoKeys } from './crs.from.geokeys.ts';

// GeoKeys as geotiff.js names them, for a transverse Mercator on the Bessel ellipsoid (as GDAL writes it)
const tmerc = {
  GTModelTypeGeoKey: 1, GTRasterTypeGeoKey: 1, GeographicTypeGeoKey: 32767, GeogAngularUnitsGeoKey: 9102,
  GeogSemiMajorAxisGeoKey: 6377397.155, GeogInvFlatteningGeoKey: 299.1528128, ProjectedCSTypeGeoKey: 32767, ProjectionGeoKey: 32767,
  ProjCoordTransGeoKey: 1, ProjLinearUnitsGeoKey: 9001, ProjNatOriginLongGeoKey: 13.3, ProjNatOriginLatGeoKey: 0,
  ProjFalseEastingGeoKey: 0, ProjFalseNorthingGeoKey: 0, ProjScaleAtNatOriginGeoKey: 1, GTCitationGeoKey: 'unknown',
};

test('a user-defined projection becomes a proj4 string, and keeps the keys a writer needs', () => {
  const crs = crsFromGeoKeys(tmerc, 'x.tif');
  assert.equal(crs.proj4, '+proj=tmerc +lat_0=0 +lon_0=13.3 +k=1 +x_0=0 +y_0=0 +a=6377397.155 +rf=299.1528128 +units=m +no_defs');
  assert.deepEqual([crs.epsg, crs.units, crs.name], [null, 'm', 'Transverse Mercator']);
  assert.deepEqual(crs.geoKeys?.doubles.map(([k]) => k), [2057, 2059, 3080, 3081, 3082, 3083, 3092]);
  assert.ok(crs.geoKeys?.shorts.some(([k, v]) => k === 3075 && v === 1));
  assert.deepEqual(crs.geoKeys?.asciis, [[1026, 'unknown']]);
  // feet, and a datum given by its EPSG geographic CRS
  const ft = crsFromGeoKeys({ ...tmerc, ProjLinearUnitsGeoKey: 9003, GeographicTypeGeoKey: 4269 }, 'x.tif');
  assert.match(ft.proj4, /\+ellps=GRS80 .*\+units=us-ft \+no_defs$/);
  assert.equal(ft.units, 'us-ft');
});

test('what cannot be read exactly is refused, saying why and how to reproject', () => {
  const refused = (keys: Record<string, unknown>, why: RegExp) => assert.throws(() => crsFromGeoKeys(keys, 'x.tif'),
    (e: unknown) => e instanceof UnreadableRasterError && why.test((e as Error).message) && /reproject it to an EPSG CRS/.test((e as Error).message));
  refused({ ...tmerc, GeogAngularUnitsGeoKey: 9105 }, /angular unit 9105 is not degrees/);
  refused({ ...tmerc, ProjLinearUnitsGeoKey: 9005 }, /linear unit 9005 is not metres or feet/);
  refused({ ...tmerc, ProjCoordTransGeoKey: 22 }, /projection method 22 is not one this reader builds/);
  refused({ ...tmerc, GeogSemiMajorAxisGeoKey: undefined }, /no geographic CRS code and no ellipsoid axis/);
  refused({ ...tmerc, GeographicTypeGeoKey: 1 }, /unknown geographic CRS EPSG:1/);
});
