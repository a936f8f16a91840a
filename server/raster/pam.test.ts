import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { geoTransformOfAuxXml, pamBands, pamVersion } from './pam.ts';
import { fileVersion } from './file.version.ts';
import { writeCog } from './cog.writer.ts';
import { openRaster } from './source.ts';
import type { Crs } from './types.ts';
import { UnreadableRasterError } from '../errors.ts';
import { gdalInspect, gdalMissing, PYTHON } from '../../test/gdal.inspect.ts';

const UTM10: Crs = { epsg: 32610, proj4: '+proj=utm +zone=10 +datum=WGS84 +units=m +no_defs', name: 'WGS 84 / UTM zone 10N', units: 'm' };
const dir = mkdtempSync(join(tmpdir(), 'fm-pam-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A 32 x 32 single-band GeoTIFF whose every seventh pixel holds `marker` (the rest 1 + x). */
async function raster(name: string, sampleType: 'float32' | 'uint16', marker: number, nodata: number | null = null, bands = 1): Promise<string> {
  const path = join(dir, name);
  const n = 32 * 32;
  await writeCog(path, { grid: { width: 32, height: 32, transform: [560000, 0.5, 0, 4900000, 0, -0.5], crs: UTM10 }, bands, sampleType, nodata, tileSize: 256, compression: 'deflate' }, () =>
    Array.from({ length: bands }, () => {
      const v = sampleType === 'float32' ? new Float32Array(n) : new Uint16Array(n);
      for (let i = 0; i < n; i++) v[i] = i % 7 === 0 ? marker : 1 + (i % 32);
      return v;
    }));
  return path;
}

const aux = (bands: string) => `<PAMDataset>\n${bands}</PAMDataset>\n`;
const band = (k: number, inner: string) => `  <PAMRasterBand band="${k}">\n${inner}  </PAMRasterBand>\n`;
const stats = `    <Metadata>\n      <MDI key="STATISTICS_MAXIMUM">32</MDI>\n      <MDI key="STATISTICS_MEAN">16.5</MDI>\n    </Metadata>\n`;

test('pamBands reads each band\'s nodata, scale and offset as GDAL writes them, not the values inside its histograms', () => {
  const xml = aux(
    band(2, '    <NoDataValue le_hex_equiv="000000000000F87F">nan</NoDataValue>\n') +
    band(1, '    <Histograms>\n      <HistItem>\n        <HistMin>-0.5</HistMin>\n        <Offset>7</Offset>\n      </HistItem>\n    </Histograms>\n    <NoDataValue>-9999</NoDataValue>\n    <Offset>-1.5</Offset>\n    <Scale>0.01</Scale>\n' + stats) +
    band(3, stats),
  );
  const bands = pamBands(xml);
  assert.equal(bands.length, 2, 'a band stating none of the three is left out');
  assert.deepEqual(bands[0], { band: 1, nodata: -9999, scale: 0.01, offset: -1.5 });
  assert.equal(bands[1].band, 2);
  assert.ok(Number.isNaN(bands[1].nodata));
  assert.deepEqual(pamBands('<PAMDataset><Metadata/></PAMDataset>'), []);
  assert.deepEqual(pamBands(aux(band(1, '    <NoDataValue>-inf</NoDataValue>\n'))), [{ band: 1, nodata: -Infinity, scale: null, offset: null }]);
});

test('an .aux.xml\'s nodata masks a GeoTIFF\'s pixels when the file has no GDAL_NODATA tag; the tag wins when it has one', async () => {
  const plain = await raster('plain.tif', 'float32', -9999);
  const before = await openRaster(plain);
  assert.equal(before.metadata.nodata, null);
  writeFileSync(`${plain}.aux.xml`, aux(band(1, '    <NoDataValue>-9999</NoDataValue>\n' + stats)));
  const src = await openRaster(plain);
  assert.equal(src.metadata.nodata, -9999);
  const img = await src.readWindow({ x: 0, y: 0, width: 32, height: 32 }, { overview: 0, bands: [0] });
  for (let i = 0; i < 32 * 32; i++) {
    const valid = img.mask ? img.mask[i] !== 0 : !Number.isNaN(img.bands[0][i]);
    assert.equal(valid, i % 7 !== 0, `pixel ${i}`);
  }
  const tagged = await raster('tagged.tif', 'float32', -9999, 0);
  writeFileSync(`${tagged}.aux.xml`, aux(band(1, '    <NoDataValue>-9999</NoDataValue>\n')));
  assert.equal((await openRaster(tagged)).metadata.nodata, 0);
});

test('an .aux.xml\'s scale and offset apply to the bands the file gives none (a uint16 CHM in centimetres reads in metres)', async () => {
  const cm = await raster('cm.tif', 'uint16', 2500);
  writeFileSync(`${cm}.aux.xml`, aux(band(1, '    <Offset>0</Offset>\n    <Scale>0.01</Scale>\n')));
  const src = await openRaster(cm);
  assert.deepEqual(src.metadata.bandScaling, [[0.01, 0]]);
  const img = await src.readWindow({ x: 0, y: 0, width: 32, height: 1 }, { overview: 0, bands: [0] });
  assert.ok(Math.abs(img.bands[0][0] - 25) < 1e-9, `${img.bands[0][0]}`);
  assert.ok(Math.abs(img.bands[0][1] - 0.02) < 1e-9, `${img.bands[0][1]}`);
});

test('bands given different nodata values in the .aux.xml are refused, saying how to give them one', async () => {
  const rgb = await raster('rgb.tif', 'uint16', 0, null, 3);
  writeFileSync(`${rgb}.aux.xml`, aux(band(1, '    <NoDataValue>0</NoDataValue>\n') + band(2, '    <NoDataValue>0</NoDataValue>\n') + band(3, '    <NoDataValue>255</NoDataValue>\n')));
  await assert.rejects(openRaster(rgb), (err: unknown) => err instanceof UnreadableRasterError && /different nodata values \(band 1: 0, band 2: 0, band 3: 255\).*gdal_translate -a_nodata/.test(err.message));
  writeFileSync(`${rgb}.aux.xml`, aux(band(1, '    <NoDataValue>0</NoDataValue>\n') + band(3, '    <NoDataValue>0</NoDataValue>\n')));
  assert.equal((await openRaster(rgb)).metadata.nodata, 0);
});

test('the nodata, scale and offset an .aux.xml states are part of the raster\'s version; its statistics are not', async () => {
  const path = await raster('version.tif', 'float32', -9999);
  const bare = fileVersion(path);
  writeFileSync(`${path}.aux.xml`, aux(band(1, stats)));
  assert.equal(pamVersion(path), '');
  assert.equal(fileVersion(path), bare, 'QGIS writing statistics keeps the version');
  writeFileSync(`${path}.aux.xml`, aux(band(1, '    <NoDataValue>-9999</NoDataValue>\n' + stats)));
  const withNodata = fileVersion(path);
  assert.notEqual(withNodata, bare);
  writeFileSync(`${path}.aux.xml`, aux(band(1, '    <NoDataValue>-9999</NoDataValue>\n' + stats.replace('16.5', '17'))));
  assert.equal(fileVersion(path), withNodata);
  writeFileSync(`${path}.aux.xml`, aux(band(1, '    <NoDataValue>-1</NoDataValue>\n')));
  assert.notEqual(fileVersion(path), withNodata);
  // the reader opens the file afresh: what it reads changed
  assert.equal((await openRaster(path)).metadata.nodata, -1);
});

// GDAL keeps a nodata value, scale and offset set on a GeoTIFF opened read-only in its .aux.xml
const GDAL_PAM = String.raw`
import sys, json
from osgeo import gdal
gdal.UseExceptions()
ds = gdal.Open(sys.argv[1], gdal.GA_ReadOnly)
b = ds.GetRasterBand(1)
b.SetNoDataValue(float(sys.argv[2]))
b.SetScale(0.25)
b.SetOffset(-1)
b.ComputeStatistics(False)
ds = None
ds = gdal.Open(sys.argv[1])
b = ds.GetRasterBand(1)
mask = b.GetMaskBand().ReadRaster()
print(json.dumps(dict(nodata=b.GetNoDataValue(), scale=b.GetScale(), offset=b.GetOffset(), valid=[1 if c else 0 for c in mask], value=b.ReadAsArray(0, 0, 2, 1).tolist()[0])))
`;

test('an .aux.xml that GDAL wrote (nodata, scale and offset set on a read-only GeoTIFF) reads as GDAL reads it', { skip: gdalMissing }, async () => {
  const path = await raster('gdal.tif', 'uint16', 9999);
  const r = spawnSync(PYTHON, ['-c', GDAL_PAM, path, '9999'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const ref = JSON.parse(r.stdout) as { nodata: number; scale: number; offset: number; valid: number[]; value: number[] };
  const src = await openRaster(path);
  assert.equal(src.metadata.nodata, ref.nodata);
  assert.deepEqual(src.metadata.bandScaling, [[ref.scale, ref.offset]]);
  const img = await src.readWindow({ x: 0, y: 0, width: 32, height: 32 }, { overview: 0, bands: [0] });
  const valid = Array.from({ length: 32 * 32 }, (_, i) => (img.mask ? img.mask[i] !== 0 : !Number.isNaN(img.bands[0][i])) ? 1 : 0);
  assert.deepEqual(valid, ref.valid);
  // GDAL hands back stored values with the scale beside them; this reader applies it
  assert.equal(img.bands[0][1], ref.value[1] * ref.scale + ref.offset);
});

// QGIS's "assign projection" and GDAL's SetProjection / SetGeoTransform on a read-only GeoTIFF keep
// the georeferencing in the .aux.xml, and GDAL reads it from there before the file's GeoKeys
const GDAL_GEOREF_PAM = String.raw`
import sys
from osgeo import gdal, osr
gdal.UseExceptions()
ds = gdal.Open(sys.argv[1], gdal.GA_ReadOnly)
srs = osr.SpatialReference()
srs.ImportFromEPSG(int(sys.argv[2]))
ds.SetSpatialRef(srs)
ds.SetGeoTransform([float(v) for v in sys.argv[3].split(',')])
ds = None
`;

test('an SRS and geotransform kept in a GeoTIFF\'s .aux.xml win over its GeoKeys, as in GDAL, and are part of its version', { skip: gdalMissing }, async () => {
  const path = await raster('assigned.tif', 'float32', 5);
  const before = fileVersion(path);
  assert.equal((await openRaster(path)).metadata.georeferencing, 'geotiff');
  const r = spawnSync(PYTHON, ['-c', GDAL_GEOREF_PAM, path, '32611', '440000,0.5,0,4100000,0,-0.5'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const ref = gdalInspect(path, { pixels: false });
  assert.equal(ref.epsg, 32611, 'GDAL reads the .aux.xml\'s SRS');
  assert.deepEqual(ref.geoTransform, [440000, 0.5, 0, 4100000, 0, -0.5]);
  const src = await openRaster(path);
  assert.equal(src.metadata.crs.epsg, ref.epsg);
  assert.deepEqual(src.grid.transform, ref.geoTransform);
  assert.equal(src.metadata.georeferencing, 'aux.xml');
  assert.notEqual(fileVersion(path), before, 'assigning another CRS changes what the raster is: computed canopy heights do not carry over');
});

test('a TIFF without GeoKeys that GDAL georeferenced in its .aux.xml (gdal_translate -co PROFILE=BASELINE) opens where GDAL puts it', { skip: gdalMissing }, async () => {
  const geo = await raster('geo.tif', 'float32', 5);
  const plain = join(dir, 'baseline.tif');
  const r = spawnSync('gdal_translate', ['-q', '-co', 'PROFILE=BASELINE', geo, plain], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(`${plain}.aux.xml`), 'GDAL put the georeferencing beside the file');
  const ref = gdalInspect(plain, { pixels: false });
  const src = await openRaster(plain);
  assert.equal(src.metadata.georeferencing, 'aux.xml');
  assert.equal(src.metadata.crs.epsg, ref.epsg);
  assert.equal(ref.epsg, 32610);
  assert.deepEqual(src.grid.transform, ref.geoTransform);
});

test('an .aux.xml SRS this reader cannot build is refused, naming the file, rather than read past in favour of the GeoKeys', async () => {
  const path = await raster('polyconic.tif', 'float32', 5);
  // American polyconic (Brazil), with no authority code to identify it by
  const wkt = 'PROJCS["SAD69 / Brazil Polyconic",GEOGCS["SAD69",DATUM["South_American_Datum_1969",SPHEROID["GRS 1967 Modified",6378160,298.25]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Polyconic"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",-54],PARAMETER["false_easting",5000000],PARAMETER["false_northing",10000000],UNIT["metre",1]]';
  writeFileSync(`${path}.aux.xml`, `<PAMDataset>\n  <SRS dataAxisToSRSAxisMapping="1,2">${wkt.replace(/"/g, '&quot;')}</SRS>\n</PAMDataset>\n`);
  await assert.rejects(openRaster(path), (err: unknown) => err instanceof UnreadableRasterError && /polyconic\.tif\.aux\.xml beside it states an SRS.*gdal_translate -a_srs/.test(err.message));
});

test('geoTransformOfAuxXml reads GDAL\'s six numbers and nothing less', () => {
  assert.deepEqual(geoTransformOfAuxXml('<PAMDataset><GeoTransform>  4.4e5,  5.0e-01,  0, 4100000,  0, -0.5</GeoTransform></PAMDataset>'), [440000, 0.5, 0, 4100000, 0, -0.5]);
  assert.equal(geoTransformOfAuxXml('<PAMDataset><GeoTransform>1, 2, 3</GeoTransform></PAMDataset>'), null);
  assert.equal(geoTransformOfAuxXml('<PAMDataset><GeoTransform>0, 0, 0, 0, 0, 0</GeoTransform></PAMDataset>'), null, 'a zero pixel size is no georeferencing');
  assert.equal(geoTransformOfAuxXml('<PAMDataset><SRS>x</SRS></PAMDataset>'), null);
});
