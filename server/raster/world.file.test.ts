import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { epsgFromWkt, parseWkt, parseWorldFile, prjOf, sidecarVersion, srsOfAuxXml, worldFileOf } from './world.file.ts';

const esriUtm = (name: string, cm: number, fn = 0, unit = 1) =>
  `PROJCS["${name}",GEOGCS["GCS",DATUM["D",SPHEROID["S",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",${fn}],PARAMETER["Central_Meridian",${cm}],PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",${unit}]]`;

test('a world file names the centre of the top-left pixel; the transform is of its corner, rotation terms included', () => {
  assert.deepEqual(parseWorldFile('0.5\n0\n0\n-0.5\n560000.25\n4899999.75\n'), [560000, 0.5, 0, 4900000, 0, -0.5]);
  // A, D, B, E, C, F: D and B are the rotation terms, in GDAL's order (x = C' + A col + B row)
  assert.deepEqual(parseWorldFile('  2\r\n 0.5\r\n -0.25\r\n -2\r\n 100\r\n 200 '), [100 - 1 + 0.125, 2, -0.25, 200 - 0.25 + 1, 0.5, -2]);
  assert.throws(() => parseWorldFile('1\n0\n0\n-1\n5'), /six numbers/);
  assert.throws(() => parseWorldFile('1\n0\n0\nx\n5\n6'), /six numbers/);
  assert.throws(() => parseWorldFile('0\n0\n0\n-1\n5\n6'), /pixel size is zero/);
});

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

test('sidecars are found by GDAL\'s names, and editing one changes the raster\'s version', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fm-world-'));
  try {
    const tif = join(dir, 'ortho.tif');
    writeFileSync(tif, 'x');
    assert.equal(worldFileOf(tif), null);
    assert.equal(sidecarVersion(tif), '');
    writeFileSync(join(dir, 'ortho.TFW'), '1\n0\n0\n-1\n0\n0\n');
    assert.equal(worldFileOf(tif), join(dir, 'ortho.TFW'));
    assert.equal(worldFileOf(join(dir, 'ortho.tiff')), join(dir, 'ortho.TFW'), '.tiff: .tfw too');
    writeFileSync(join(dir, 'scan.jpg.tif'), 'x');
    writeFileSync(join(dir, 'scan.jpg.tifw'), '1\n0\n0\n-1\n0\n0\n');
    assert.equal(worldFileOf(join(dir, 'scan.jpg.tif')), join(dir, 'scan.jpg.tifw'));
    writeFileSync(join(dir, 'ortho.prj'), esriUtm('WGS_1984_UTM_Zone_10N', -123));
    assert.equal(prjOf(tif), join(dir, 'ortho.prj'));
    const before = sidecarVersion(tif);
    assert.notEqual(before, '');
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, 'ortho.prj'), later, later);
    assert.notEqual(sidecarVersion(tif), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the SRS of an .aux.xml is its <SRS> element, XML-unescaped', () => {
  const xml = '<PAMDataset>\n  <SRS dataAxisToSRSAxisMapping="1,2">PROJCS[&quot;ETRS89 / UTM zone 32N&quot;,GEOGCS[&quot;ETRS89&quot;,DATUM[&quot;x&quot;,SPHEROID[&quot;GRS 1980&quot;,6378137,298.257222101]]],AUTHORITY[&quot;EPSG&quot;,&quot;25832&quot;]]</SRS>\n</PAMDataset>';
  const wkt = srsOfAuxXml(xml)!;
  assert.match(wkt, /^PROJCS\["ETRS89 \/ UTM zone 32N"/);
  assert.deepEqual(epsgFromWkt(wkt), { epsg: 25832 });
  assert.equal(srsOfAuxXml('<PAMDataset><Metadata/></PAMDataset>'), null);
  assert.equal(srsOfAuxXml('<PAMDataset><SRS> </SRS></PAMDataset>'), null);
});
