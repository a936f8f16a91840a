import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseWorldFile, prjOf, worldFileOf } from './world.file.ts';
import { srsOfAuxXml } from './pam.ts';
import { overviewVersion, sidecarVersion } from './file.version.ts';
import { epsgFromWkt } from './crs.from.wkt.ts';

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

test('sidecars are found by GDAL\'s names, and editing one changes the raster\'s version', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fm-world-'));
  try {
    const tif = join(dir, 'ortho.tif');
    writeFileSync(tif, 'x');
    assert.equal(worldFileOf(tif), null);
    assert.equal(sidecarVersion(tif), '');
    // without a world file, the side files GIS tools rewrite (QGIS's statistics) change nothing
    writeFileSync(join(dir, 'ortho.prj'), esriUtm('WGS_1984_UTM_Zone_10N', -123));
    writeFileSync(`${tif}.aux.xml`, '<PAMDataset/>');
    assert.equal(sidecarVersion(tif), '');
    rmSync(join(dir, 'ortho.prj'));
    writeFileSync(join(dir, 'ortho.TFW'), '1\n0\n0\n-1\n0\n0\n');
    assert.equal(worldFileOf(tif), join(dir, 'ortho.TFW'));
    assert.equal(worldFileOf(join(dir, 'ortho.tiff')), join(dir, 'ortho.TFW'), '.tiff: .tfw too');
    writeFileSync(join(dir, 'scan.jpg.tif'), 'x');
    writeFileSync(join(dir, 'scan.jpg.tifw'), '1\n0\n0\n-1\n0\n0\n');
    assert.equal(worldFileOf(join(dir, 'scan.jpg.tif')), join(dir, 'scan.jpg.tifw'));
    // with one: the world file and the .aux.xml holding the CRS, then the .prj instead
    const withAux = sidecarVersion(tif);
    assert.equal(withAux.split('_').length, 3);
    writeFileSync(join(dir, 'ortho.prj'), esriUtm('WGS_1984_UTM_Zone_10N', -123));
    assert.equal(prjOf(tif), join(dir, 'ortho.prj'));
    const before = sidecarVersion(tif);
    assert.notEqual(before, withAux);
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, 'ortho.prj'), later, later);
    assert.notEqual(sidecarVersion(tif), before);
    // overviews change what opens, not the version
    assert.equal(overviewVersion(tif), '');
    const withoutOvr = sidecarVersion(tif);
    writeFileSync(`${tif}.ovr`, 'x');
    assert.notEqual(overviewVersion(tif), '');
    assert.equal(sidecarVersion(tif), withoutOvr);
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
