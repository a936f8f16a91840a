import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epsgOfCrsName, regionInWgs84 } from './region.crs.ts';
import { parseRegion } from './region.ts';
import { crsFromEpsg, projector, WGS84 } from '../../tiles/projection.ts';

const utm10 = (name = 'urn:ogc:def:crs:EPSG::32610') => ({ type: 'name', properties: { name } });
// a 200 m square in UTM 10N near its central meridian (-123°)
const square = [[500100, 4899100], [500300, 4899100], [500300, 4899300], [500100, 4899300], [500100, 4899100]];

test('CRS names GDAL, QGIS and OGC write resolve to EPSG codes', () => {
  assert.equal(epsgOfCrsName('urn:ogc:def:crs:EPSG::32610'), 32610);
  assert.equal(epsgOfCrsName('urn:ogc:def:crs:EPSG:6.6:2193'), 2193);
  assert.equal(epsgOfCrsName('EPSG:3857'), 3857);
  assert.equal(epsgOfCrsName('http://www.opengis.net/def/crs/EPSG/0/25832'), 25832);
  assert.equal(epsgOfCrsName('urn:ogc:def:crs:OGC:1.3:CRS84'), 4326);
  assert.equal(epsgOfCrsName('http://www.opengis.net/def/crs/OGC/1.3/CRS84'), 4326);
  assert.equal(epsgOfCrsName('CRS:84'), 4326, "WMS's short name");
  // pasted names carry stray spaces; every form is read the same with them
  assert.equal(epsgOfCrsName(' urn:ogc:def:crs:OGC:1.3:CRS84\n'), 4326);
  assert.equal(epsgOfCrsName(' EPSG:2193 '), 2193);
  assert.equal(epsgOfCrsName('NAD83 / UTM zone 10N'), null);
});

test('a FeatureCollection in UTM (as ogr2ogr writes it) is projected to WGS84, vertex by vertex', () => {
  const fc = { type: 'FeatureCollection', name: 'stands', crs: utm10(), features: [{ type: 'Feature', properties: { stand: 7, note: [1, 2] }, geometry: { type: 'Polygon', coordinates: [square] } }] };
  const out = regionInWgs84(fc) as any;
  assert.equal(out.crs, undefined, 'the crs member is gone once the coordinates are WGS84');
  assert.deepEqual(out.features[0].properties, { stand: 7, note: [1, 2] }, 'properties are not coordinates');
  const toWgs = projector(crsFromEpsg(32610), WGS84);
  assert.deepEqual(out.features[0].geometry.coordinates[0], square.map(([x, y]) => toWgs(x, y)));
  assert.deepEqual(fc.features[0].geometry.coordinates[0], square, 'the input is not modified');
  // and the region is what it was drawn as: 200 m x 200 m (within UTM's scale factor and turf's
  // spherical area, a few tenths of a percent)
  const region = parseRegion(fc);
  assert.ok(Math.abs(region.areaM2 - 40000) < 200, `${region.areaM2} m²`);
});

test('WGS84 names and a null crs leave the coordinates as they are', () => {
  const lonLat = [[-122.25, 44.24], [-122.24, 44.24], [-122.24, 44.25], [-122.25, 44.24]];
  for (const crs of [utm10('urn:ogc:def:crs:OGC:1.3:CRS84'), utm10('EPSG:4326'), null]) {
    const out = regionInWgs84({ type: 'Polygon', crs, coordinates: [lonLat] }) as any;
    assert.deepEqual(out, { type: 'Polygon', coordinates: [lonLat] });
  }
  const plain = { type: 'Polygon', coordinates: [lonLat] };
  assert.equal(regionInWgs84(plain), plain);
});

test('a crs that names nothing we can project is refused with the reason', () => {
  const poly = (crs: unknown) => ({ type: 'Polygon', crs, coordinates: [square] });
  assert.throws(() => parseRegion(poly(utm10('EPSG:99999999'))), /unknown or unsupported CRS EPSG:99999999/);
  assert.throws(() => parseRegion(poly(utm10('NAD83 / UTM zone 10N'))), /region crs 'NAD83 \/ UTM zone 10N' is not an EPSG code or OGC CRS84/);
  assert.throws(() => parseRegion(poly({ type: 'link', properties: { href: 'http://example.com/crs' } })), /region crs must name a CRS/);
  // without a crs member, projected coordinates are refused, and the message says how to name the CRS
  assert.throws(() => parseRegion({ type: 'Polygon', coordinates: [square] }), /longitude 500100 is outside \[-180, 180\] \(coordinates must be WGS84 lon\/lat, or the region must name its CRS in a GeoJSON crs member\)/);
});

test('malformed positions under a crs are still reported by validation, not projected into NaN', () => {
  const bad = { type: 'Polygon', crs: utm10(), coordinates: [[[500100, 4899100], [500300, 'x'], [500300, 4899300], [500100, 4899100]]] };
  assert.throws(() => parseRegion(bad), (e: Error) => !/NaN/.test(e.message));
});

test('a position the named CRS cannot project is refused by name', () => {
  // a billion metres east of UTM's central meridian: proj4's inverse answers infinities
  const wild = { type: 'Polygon', crs: utm10(), coordinates: [[[500000, 4899100], [1e9, 1e9], [500300, 4899300], [500000, 4899100]]] };
  assert.throws(() => parseRegion(wild), /^InvalidInputError: region position \[1000000000, 1000000000\] cannot be projected from EPSG:32610 to WGS84$/);
});
