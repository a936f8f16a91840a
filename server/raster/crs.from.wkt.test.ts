import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crsFromWkt, epsgFromWkt, parseWkt } from './crs.from.wkt.ts';
import { crsFromEpsg, crsFromProj4, projector, WGS84 } from '../../tiles/projection.ts';
import { UnreadableRasterError } from '../errors.ts';

const esriUtm = (name: string, cm: number, fn = 0, unit = 1) =>
  `PROJCS["${name}",GEOGCS["GCS",DATUM["D",SPHEROID["S",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",${fn}],PARAMETER["Central_Meridian",${cm}],PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",${unit}]]`;

test('WKT parses into nodes; anything else is null', () => {
  const n = parseWkt('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],AXIS["Lat",NORTH],AUTHORITY["EPSG","4326"]]')!;
  assert.equal(n.keyword, 'GEOGCS');
  assert.deepEqual(n.values, ['WGS 84']);
  assert.deepEqual(n.children.map((c) => c.keyword), ['DATUM', 'AXIS', 'AUTHORITY']);
  assert.deepEqual(n.children[1].values, ['Lat', 'NORTH']);
  for (const bad of ['', 'EPSG:32610', 'PROJCS["x"', 'PROJCS["x"]]', '+proj=utm +zone=10']) assert.equal(parseWkt(bad), null, bad);
});

test('the EPSG code of a .prj: the root AUTHORITY, or ESRI names of UTM zones whose parameters agree', () => {
  // GDAL's WKT: nested AUTHORITY nodes (datum, GEOGCS) must not be taken for the root's
  const gdal = 'PROJCS["ETRS89 / UTM zone 32N",GEOGCS["ETRS89",DATUM["European_Terrestrial_Reference_System_1989",SPHEROID["GRS 1980",6378137,298.257222101,AUTHORITY["EPSG","7019"]],AUTHORITY["EPSG","6258"]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4258"]],PROJECTION["Transverse_Mercator"],PARAMETER["central_meridian",9],UNIT["metre",1],AUTHORITY["EPSG","25832"]]';
  assert.deepEqual(epsgFromWkt(gdal), { epsg: 25832 });
  assert.deepEqual(epsgFromWkt(esriUtm('WGS_1984_UTM_Zone_10N', -123)), { epsg: 32610 });
  assert.deepEqual(epsgFromWkt(esriUtm('WGS_1984_UTM_Zone_33S', 15, 10000000)), { epsg: 32733 });
  assert.deepEqual(epsgFromWkt(esriUtm('NAD_1983_UTM_Zone_17N', -81)), { epsg: 26917 });
  assert.deepEqual(epsgFromWkt(esriUtm('ETRS_1989_UTM_Zone_32N', 9)), { epsg: 25832 });
  assert.deepEqual(epsgFromWkt('GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]'), { epsg: 4326 });
  // a name whose parameters say otherwise, a zone in feet, a datum with no southern zones: not identified
  assert.match((epsgFromWkt(esriUtm('WGS_1984_UTM_Zone_10N', -117)) as { reason: string }).reason, /parameters are not those of WGS_1984_UTM_Zone_10N/);
  assert.equal(epsgFromWkt(esriUtm('WGS_1984_UTM_Zone_10N', -123, 0, 0.3048)).epsg, null);
  assert.match((epsgFromWkt(esriUtm('NAD_1983_UTM_Zone_17S', -81, 10000000)) as { reason: string }).reason, /has no EPSG code/);
  assert.match((epsgFromWkt('PROJCS["Lambert_72",GEOGCS["x",DATUM["y",SPHEROID["z",1,2]]]]') as { reason: string }).reason, /PROJCS "Lambert_72" names no EPSG code/);
  assert.match((epsgFromWkt('not wkt') as { reason: string }).reason, /not WKT/);
});

test('a .prj naming no EPSG code is built from its parameters: it projects as the EPSG CRS it equals', () => {
  const same = (wkt: string, epsg: number, points: Array<[number, number]>) => {
    const built = crsFromWkt(wkt, 'x.prj');
    assert.equal(built.epsg, null);
    assert.ok(built.geoKeys, 'keys a writer copies');
    const [a, b] = [projector(WGS84, built), projector(WGS84, crsFromEpsg(epsg))];
    for (const p of points) {
      const [x1, y1] = a(...p), [x2, y2] = b(...p);
      // within a millimetre: EPSG:2913 rounds its false easting differently (2500000.0001424 m)
      assert.ok(Math.hypot(x1 - x2, y1 - y2) < 1e-3, `EPSG:${epsg} at ${p}: ${x1},${y1} vs ${x2},${y2}`);
    }
    return built;
  };
  // ArcGIS's names for EPSG:5070 (NAD83 / Conus Albers), EPSG:2913 (NAD83(HARN) / Oregon North (ft)),
  // EPSG:3035 (ETRS89-extended / LAEA Europe), EPSG:28992's projection on a bare Bessel ellipsoid
  same('PROJCS["NAD_1983_Contiguous_USA_Albers",GEOGCS["GCS_North_American_1983",DATUM["D_North_American_1983",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Albers"],PARAMETER["False_Easting",0.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",-96.0],PARAMETER["Standard_Parallel_1",29.5],PARAMETER["Standard_Parallel_2",45.5],PARAMETER["Latitude_Of_Origin",23.0],UNIT["Meter",1.0]]', 5070, [[-122.3, 44.2], [-80, 30]]);
  const ft = same('PROJCS["NAD_1983_HARN_StatePlane_Oregon_North_FIPS_3601_Feet_Intl",GEOGCS["GCS_North_American_1983_HARN",DATUM["D_North_American_1983_HARN",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],PARAMETER["False_Easting",8202099.737532808],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",-120.5],PARAMETER["Standard_Parallel_1",44.33333333333334],PARAMETER["Standard_Parallel_2",46.0],PARAMETER["Latitude_Of_Origin",43.66666666666666],UNIT["Foot",0.3048]]', 2913, [[-122.3, 45.2], [-119, 46]]);
  assert.equal(ft.units, 'ft');
  same('PROJCS["ETRS_1989_LAEA",GEOGCS["GCS_ETRS_1989",DATUM["D_ETRS_1989",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Azimuthal_Equal_Area"],PARAMETER["False_Easting",4321000.0],PARAMETER["False_Northing",3210000.0],PARAMETER["Central_Meridian",10.0],PARAMETER["Latitude_Of_Origin",52.0],UNIT["Meter",1.0]]', 3035, [[10, 52], [2, 48]]);
  // ESRI's one-parallel Lambert conic (NTF Lambert II étendu's projection on its ellipsoid, Greenwich
  // longitudes): the parallel repeated as Standard_Parallel_2, the scale is what makes it 1SP
  const lcc1 = crsFromWkt('PROJCS["Lambert_II_1SP",GEOGCS["GCS_Clarke_1880_IGN",DATUM["D_Clarke_1880_IGN",SPHEROID["Clarke_1880_IGN",6378249.2,293.4660212936269]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],PARAMETER["False_Easting",600000.0],PARAMETER["False_Northing",2200000.0],PARAMETER["Central_Meridian",2.337229166666667],PARAMETER["Standard_Parallel_1",46.8],PARAMETER["Standard_Parallel_2",46.8],PARAMETER["Scale_Factor",0.99987742],PARAMETER["Latitude_Of_Origin",46.8],UNIT["Meter",1.0]]', 'lcc1.prj');
  const reference = crsFromProj4('+proj=lcc +lat_1=46.8 +lat_0=46.8 +lon_0=2.337229166666667 +k_0=0.99987742 +x_0=600000 +y_0=2200000 +a=6378249.2 +rf=293.4660212936269 +units=m +no_defs');
  for (const p of [[2.3, 48.85], [-1.5, 43.5]] as Array<[number, number]>) {
    const [x1, y1] = projector(WGS84, lcc1)(...p), [x2, y2] = projector(WGS84, reference)(...p);
    assert.ok(Math.hypot(x1 - x2, y1 - y2) < 1e-3, `LCC 1SP at ${p}: ${x1},${y1} vs ${x2},${y2}`);
  }
  const rd = crsFromWkt('PROJCS["RD_on_Bessel",GEOGCS["GCS_Bessel_1841",DATUM["D_Bessel_1841",SPHEROID["Bessel_1841",6377397.155,299.1528128]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Double_Stereographic"],PARAMETER["False_Easting",155000.0],PARAMETER["False_Northing",463000.0],PARAMETER["Central_Meridian",5.38763888888889],PARAMETER["Scale_Factor",0.9999079],PARAMETER["Latitude_Of_Origin",52.15616055555555],UNIT["Meter",1.0]]', 'rd.prj');
  // the projection's own origin maps to its false origin
  const [x, y] = projector(crsFromEpsg(4326), rd)(5.38763888888889, 52.15616055555555);
  assert.ok(Math.abs(x - 155000) < 1e-3 && Math.abs(y - 463000) < 1e-3, `${x},${y}`);
});

test('Cassini-Soldner and both Hotine oblique Mercator variants, by GDAL\'s names and ESRI\'s, project as GDAL\'s proj4 strings of their EPSG CRSs do', () => {
  // gdalsrsinfo -o wkt1 (AUTHORITY and TOWGS84 taken out, so the parameters are what is read) and
  // -o wkt_esri of EPSG:3375 (Peninsular RSO, variant A), 29873 (RSO Borneo, variant B) and 3068
  // (Soldner Berlin); the references are gdalsrsinfo -o proj4 of each, without the datum shift
  const cases: Array<[string, string[], Array<[number, number]>]> = [
    ['+proj=omerc +no_uoff +lat_0=4 +lonc=102.25 +alpha=323.025796466667 +gamma=323.130102361111 +k=0.99984 +x_0=804671 +y_0=0 +ellps=GRS80 +units=m +no_defs', [
      'PROJCS["GDM2000/PeninsulaRSO",GEOGCS["GDM2000",DATUM["Geodetic_Datum_of_Malaysia_2000",SPHEROID["GRS1980",6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Hotine_Oblique_Mercator"],PARAMETER["latitude_of_center",4],PARAMETER["longitude_of_center",102.25],PARAMETER["azimuth",323.025796466667],PARAMETER["rectified_grid_angle",323.130102361111],PARAMETER["scale_factor",0.99984],PARAMETER["false_easting",804671],PARAMETER["false_northing",0],UNIT["metre",1]]',
      'PROJCS["GDM_2000_MRSO_Peninsular_Malaysia",GEOGCS["GCS_GDM_2000",DATUM["D_GDM_2000",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Rectified_Skew_Orthomorphic_Natural_Origin"],PARAMETER["False_Easting",804671.0],PARAMETER["False_Northing",0.0],PARAMETER["Scale_Factor",0.99984],PARAMETER["Azimuth",-36.9742035333334],PARAMETER["Longitude_Of_Center",102.25],PARAMETER["Latitude_Of_Center",4.0],PARAMETER["XY_Plane_Rotation",-36.8698976388889],UNIT["Meter",1.0]]',
    ], [[101.5, 3.2], [103.1, 5.6], [100.4, 6.3]]],
    ['+proj=omerc +lat_0=4 +lonc=115 +alpha=53.3158204722222 +gamma=53.1301023611111 +k=0.99984 +x_0=590476.87 +y_0=442857.65 +a=6377298.556 +rf=300.8017 +units=m +no_defs', [
      'PROJCS["Timbalai1948/RSOBorneo(m)",GEOGCS["Timbalai1948",DATUM["Timbalai_1948",SPHEROID["Everest1830(1967Definition)",6377298.556,300.8017]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Hotine_Oblique_Mercator_Azimuth_Center"],PARAMETER["latitude_of_center",4],PARAMETER["longitude_of_center",115],PARAMETER["azimuth",53.3158204722222],PARAMETER["rectified_grid_angle",53.1301023611111],PARAMETER["scale_factor",0.99984],PARAMETER["false_easting",590476.87],PARAMETER["false_northing",442857.65],UNIT["metre",1]]',
      'PROJCS["Timbalai_1948_RSO_Borneo_Meters",GEOGCS["GCS_Timbalai_1948",DATUM["D_Timbalai_1948",SPHEROID["Everest_Definition_1967",6377298.556,300.8017]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Rectified_Skew_Orthomorphic_Center"],PARAMETER["False_Easting",590476.87],PARAMETER["False_Northing",442857.65],PARAMETER["Scale_Factor",0.99984],PARAMETER["Azimuth",53.3158204722222],PARAMETER["Longitude_Of_Center",115.0],PARAMETER["Latitude_Of_Center",4.0],PARAMETER["XY_Plane_Rotation",53.1301023611111],UNIT["Meter",1.0]]',
    ], [[116.0, 5.5], [113.5, 3.0], [118.2, 6.9]]],
    ['+proj=cass +lat_0=52.4186482777778 +lon_0=13.6272036666667 +x_0=40000 +y_0=10000 +ellps=bessel +units=m +no_defs', [
      'PROJCS["DHDN/SoldnerBerlin",GEOGCS["DHDN",DATUM["Deutsches_Hauptdreiecksnetz",SPHEROID["Bessel1841",6377397.155,299.1528128]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Cassini_Soldner"],PARAMETER["latitude_of_origin",52.4186482777778],PARAMETER["central_meridian",13.6272036666667],PARAMETER["false_easting",40000],PARAMETER["false_northing",10000],UNIT["metre",1]]',
      'PROJCS["DHDN_Soldner_Berlin",GEOGCS["GCS_Deutsches_Hauptdreiecksnetz",DATUM["D_Deutsches_Hauptdreiecksnetz",SPHEROID["Bessel_1841",6377397.155,299.1528128]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Cassini"],PARAMETER["False_Easting",40000.0],PARAMETER["False_Northing",10000.0],PARAMETER["Central_Meridian",13.6272036666667],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",52.4186482777778],UNIT["Meter",1.0]]',
    ], [[13.4, 52.5], [13.9, 52.3]]],
  ];
  for (const [reference, wkts, points] of cases) {
    const want = projector(WGS84, crsFromProj4(reference));
    for (const wkt of wkts) {
      const built = crsFromWkt(wkt, 'x.prj');
      assert.ok(built.geoKeys, 'keys a writer copies');
      const got = projector(WGS84, built);
      for (const p of points) {
        const [x1, y1] = got(...p), [x2, y2] = want(...p);
        assert.ok(Math.hypot(x1 - x2, y1 - y2) < 1e-3, `${wkt.slice(8, 40)} at ${p}: ${x1},${y1} vs ${x2},${y2}`);
      }
    }
  }
});

test('what a .prj describes that is not built here is refused, saying why', () => {
  const refused = (wkt: string, why: RegExp) => assert.throws(() => crsFromWkt(wkt, 'x.prj'), (e: unknown) => e instanceof UnreadableRasterError && why.test((e as Error).message));
  const geog = 'GEOGCS["GCS_X",DATUM["D_X",SPHEROID["S",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]';
  refused(`PROJCS["c",${geog},PROJECTION["Polyconic"],PARAMETER["False_Easting",0],UNIT["Meter",1.0]]`, /^x\.prj: its projection Polyconic is not one this reader builds/);
  refused(`PROJCS["l",${geog},PROJECTION["Transverse_Mercator"],PARAMETER["Central_Meridian",3],UNIT["Link",0.201166195164]]`, /linear unit Link \(0\.201166195164 m\) is not metres or feet/);
  refused(`PROJCS["g",${geog.replace('UNIT["Degree",0.0174532925199433]', 'UNIT["Grad",0.01570796326794897]')},PROJECTION["Transverse_Mercator"],UNIT["Meter",1.0]]`, /angular unit 9105 is not degrees/);
  refused('GEOGCS["GCS_Y",DATUM["D_Y"],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]', /GCS_Y gives no ellipsoid/);
  refused('VERT_CS["h",VERT_DATUM["v",2005]]', /a VERT_CS is not a CRS this reader builds/);
  // a geographic CRS on its own ellipsoid is built
  assert.equal(crsFromWkt(geog, 'x.prj').units, 'degree');
});

test('corrupt WKT is refused with an UnreadableRasterError, whatever its shape (never a stack overflow)', () => {
  // nesting deeper than the stack, a long run of numbers, random bytes
  assert.equal(parseWkt('A['.repeat(30000) + ']'.repeat(30000)), null);
  assert.equal(parseWkt(`PROJCS["x",${'1,'.repeat(20000)}1]`)!.values.length, 20002);
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const alphabet = 'PROJCS[]"(),.-+0123456789eE AUTHORITY';
  for (let k = 0; k < 2000; k++) {
    const text = Array.from({ length: Math.floor(rand() * 80) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
    const r = epsgFromWkt(text);
    assert.ok(r.epsg === null || Number.isInteger(r.epsg), text);
    try {
      crsFromWkt(text, 'x.prj');
    } catch (e) {
      assert.ok(e instanceof UnreadableRasterError, `${text}: ${String(e)}`);
    }
  }
  assert.throws(() => crsFromWkt('A['.repeat(30000), 'x.prj'), UnreadableRasterError);
});
