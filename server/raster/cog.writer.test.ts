import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeCog, writeCogImage, type CogOptions } from './cog.writer.ts';
import type { Affine, Crs, Grid } from './types.ts';
import { InvalidInputError } from '../errors.ts';
import { gdalInspect, gdalinfo, gdalMissing, gdalSameSrs, gdalToWgs84 } from '../../test/gdal.inspect.ts';
import { crsFromWkt } from './crs.from.wkt.ts';
import { projector } from '../../tiles/projection.ts';
import { makeGeoTiffs, pythonGdalMissing } from '../../test/fixtures/geotiffs.ts';
import { openRaster } from './source.ts';

const UTM10: Crs = { epsg: 32610, proj4: '+proj=utm +zone=10 +datum=WGS84 +units=m +no_defs', name: 'WGS 84 / UTM zone 10N', units: 'm' };
const WGS84: Crs = { epsg: 4326, proj4: '+proj=longlat +datum=WGS84 +no_defs', name: 'WGS 84', units: 'degree' };
const dir = mkdtempSync(join(tmpdir(), 'cog-test-'));
const skip = { skip: gdalMissing };

function grid(width: number, height: number, transform: Affine = [560000, 0.5, 0, 4900000, 0, -0.5], crs = UTM10): Grid {
  return { width, height, transform, crs };
}

/** A band pattern with structure in both directions, so tile placement errors show. */
function pattern(band: number, x: number, y: number): number {
  return band === 0 ? (x * 7 + y * 3) % 256 : band === 1 ? (x ^ y) & 255 : (x * y + 11) % 251;
}

/** Writes a full image from a per-pixel function, checking the strip windows the writer asks for. */
async function writeFrom(path: string, opts: CogOptions, value: (b: number, x: number, y: number) => number, ArrayType: new (n: number) => { [i: number]: number; length: number } = Float64Array) {
  const windows: Array<{ y: number; height: number }> = [];
  await writeCog(path, opts, (w) => {
    assert.equal(w.x, 0);
    assert.equal(w.width, opts.grid.width);
    windows.push({ y: w.y, height: w.height });
    return Array.from({ length: opts.bands }, (_, b) => {
      const plane = new ArrayType(w.width * w.height);
      for (let r = 0; r < w.height; r++) for (let c = 0; c < w.width; c++) plane[r * w.width + c] = value(b, c, w.y + r);
      return plane as unknown as ArrayLike<number>;
    });
  });
  return windows;
}

/** Independent 2x2 average (edge blocks use the pixels they have), rounded for integers. */
function averageLevel(src: Float64Array, w: number, h: number, round: boolean, nodata: number | null = null) {
  const ow = Math.ceil(w / 2), oh = Math.ceil(h / 2);
  const out = new Float64Array(ow * oh);
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) {
    let s = 0, n = 0;
    for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      const sx = 2 * x + dx, sy = 2 * y + dy;
      if (sx >= w || sy >= h) continue;
      const v = src[sy * w + sx];
      if (v === nodata || Number.isNaN(v)) continue;
      s += v; n++;
    }
    out[y * ow + x] = n === 0 ? (nodata ?? 0) : round ? Math.round(s / n) : s / n;
  }
  return { data: out, width: ow, height: oh };
}

test('RGB uint8, size not a multiple of the tile: GDAL reads exact pixels, CRS, tiling, overviews, COG layout', skip, async () => {
  const path = join(dir, 'rgb.tif');
  const W = 600, H = 300;
  const windows = await writeFrom(path, { grid: grid(W, H), bands: 3, sampleType: 'uint8' }, pattern);
  assert.deepEqual(windows, [{ y: 0, height: 256 }, { y: 256, height: 44 }]);

  const info = gdalInspect(path);
  assert.deepEqual(info.cogErrors, []);
  assert.deepEqual(info.cogWarnings, []);
  assert.deepEqual(info.gdalMessages, []);
  assert.equal(info.driver, 'GTiff');
  assert.equal(info.epsg, 32610);
  assert.deepEqual(info.geoTransform, [560000, 0.5, 0, 4900000, 0, -0.5]);
  assert.equal(info.imageStructure.COMPRESSION, 'DEFLATE');
  assert.equal(info.imageStructure.PREDICTOR, '2');
  assert.equal(info.imageStructure.LAYOUT, 'COG');
  assert.equal(info.imageStructure.INTERLEAVE, 'PIXEL');
  // auto: 600x300 -> 300x150 -> 150x75 (fits a 256 tile)
  assert.deepEqual(info.levels.map((l) => [l.width, l.height, l.blockWidth, l.blockHeight]), [[600, 300, 256, 256], [300, 150, 256, 256], [150, 75, 256, 256]]);
  for (let b = 0; b < 3; b++) {
    const got = info.levels[0].bands[b];
    let level = new Float64Array(W * H);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) level[y * W + x] = pattern(b, x, y);
    assert.deepEqual([...got], [...level].map((v) => v), `band ${b + 1} full resolution`);
    let w = W, h = H;
    for (let lv = 1; lv < 3; lv++) {
      const next = averageLevel(level, w, h, true);
      assert.deepEqual([...info.levels[lv].bands[b]], [...next.data], `band ${b + 1} overview ${lv}`);
      ({ data: level, width: w, height: h } = next);
    }
  }

  const cli = gdalinfo(path);
  assert.equal(cli.status, 0);
  assert.equal(cli.stderr, '', 'gdalinfo prints no warnings');
  assert.match(cli.stdout, /Block=256x256 Type=Byte, ColorInterp=Red/);
  assert.match(cli.stdout, /Overviews: 300x150, 150x75/);
  assert.match(cli.stdout, /AREA_OR_POINT=Area/);
  // gdallocationinfo (pixel/line) on the last pixel, in the short edge strip and edge tile column.
  const loc = spawnSync('gdallocationinfo', ['-valonly', path, String(W - 1), String(H - 1)], { encoding: 'utf8' });
  assert.deepEqual(loc.stdout.trim().split('\n').map(Number), [0, 1, 2].map((b) => pattern(b, W - 1, H - 1)));
});

test('float32 single tile with nodata: exact values, no overviews, nodata ignored by averaging', skip, async () => {
  const path = join(dir, 'chm.tif');
  const value = (_b: number, x: number, y: number) => ((x + y) % 9 === 0 ? -9999 : Math.fround(Math.sin(x * 0.3) * 20 + y * 0.01));
  await writeFrom(path, { grid: grid(100, 70), bands: 1, sampleType: 'float32', nodata: -9999 }, value);
  const info = gdalInspect(path);
  assert.deepEqual(info.cogErrors, []);
  assert.equal(info.overviewCount, 0);
  assert.equal(info.dataType, 'Float32');
  assert.equal(info.nodata, -9999);
  assert.equal(info.imageStructure.PREDICTOR, '3');
  const got = new Float32Array(info.levels[0].bands[0].buffer.slice(info.levels[0].bands[0].byteOffset, info.levels[0].bands[0].byteOffset + 100 * 70 * 4));
  for (let y = 0; y < 70; y++) for (let x = 0; x < 100; x++) assert.equal(got[y * 100 + x], value(0, x, y), `pixel ${x},${y}`);

  // Two forced overview levels on a float raster: averages skip nodata, match an independent computation.
  const pathOv = join(dir, 'chm-ov.tif');
  await writeFrom(pathOv, { grid: grid(100, 70), bands: 1, sampleType: 'float32', nodata: -9999, overviews: 2, tileSize: 32 }, value);
  const ov = gdalInspect(pathOv);
  assert.deepEqual(ov.cogErrors, []);
  assert.equal(ov.overviewCount, 2);
  const full = new Float64Array(100 * 70);
  for (let y = 0; y < 70; y++) for (let x = 0; x < 100; x++) full[y * 100 + x] = value(0, x, y);
  const o1 = averageLevel(full, 100, 70, false, -9999);
  const buf = ov.levels[1].bands[0];
  const got1 = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  assert.equal(got1.length, 50 * 35);
  for (let i = 0; i < got1.length; i++) assert.equal(got1[i], Math.fround(o1.data[i]));
});

test('tiles of one value (nodata, or a constant of any sample type) are encoded once per file and read back as written', skip, async () => {
  // 16 px tiles: blocks of nodata, of 7.25, of 3.5 and a sloped block, including padded edge tiles
  const f = (_b: number, x: number, y: number) => (x < 32 ? -9999 : x < 64 ? (y < 40 ? 7.25 : 3.5) : Math.fround(x * 0.1 + y * 0.01));
  const path = join(dir, 'uniform.tif');
  await writeFrom(path, { grid: grid(90, 70), bands: 1, sampleType: 'float32', nodata: -9999, tileSize: 16, overviews: 1 }, f);
  const info = gdalInspect(path);
  assert.deepEqual(info.cogErrors, []);
  const b = info.levels[0].bands[0];
  const got = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + 90 * 70 * 4));
  for (let y = 0; y < 70; y++) for (let x = 0; x < 90; x++) assert.equal(got[y * 90 + x], f(0, x, y), `pixel ${x},${y}`);
  // RGB bytes: a grey tile repeats its 32-bit word, a coloured one does not (its pattern spans 3 bytes)
  const rgb = (band: number, x: number, y: number) => (x < 16 ? 128 : x < 32 ? [10, 200, 30][band] : pattern(band, x, y));
  const rgbPath = join(dir, 'uniform-rgb.tif');
  await writeFrom(rgbPath, { grid: grid(48, 40), bands: 3, sampleType: 'uint8', tileSize: 16 }, rgb);
  const rgbInfo = gdalInspect(rgbPath);
  for (let band = 0; band < 3; band++) {
    const v = rgbInfo.levels[0].bands[band];
    for (let y = 0; y < 40; y++) for (let x = 0; x < 48; x++) assert.equal(v[y * 48 + x], rgb(band, x, y), `band ${band} pixel ${x},${y}`);
  }
});

test('float32 with a storage quantum and the run-length strategy: GDAL reads every level rounded to the quantum, the file is smaller', skip, async () => {
  const value = (_b: number, x: number, y: number) => ((x + y) % 13 === 0 ? -9999 : Math.fround(Math.abs(Math.sin(x * 0.07) * Math.cos(y * 0.05)) * 30 + ((x * 31 + y * 17) % 101) * 1e-4));
  const base = { grid: grid(300, 200), bands: 1, sampleType: 'float32' as const, nodata: -9999, tileSize: 64, overviews: 2, deflateLevel: 1 };
  const exactPath = join(dir, 'q-exact.tif'), path = join(dir, 'q.tif');
  await writeFrom(exactPath, { ...base, deflateStrategy: 'rle' }, value);
  await writeFrom(path, { ...base, deflateStrategy: 'rle', floatQuantum: 2 ** -10 }, value);
  const info = gdalInspect(path);
  assert.deepEqual(info.cogErrors, []);
  assert.equal(info.overviewCount, 2);
  const q = (v: number) => Math.round(v * 1024) / 1024;
  const f32 = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  const got = f32(info.levels[0].bands[0]);
  const full = new Float64Array(300 * 200);
  for (let y = 0; y < 200; y++) for (let x = 0; x < 300; x++) {
    full[y * 300 + x] = value(0, x, y);
    assert.equal(got[y * 300 + x], q(value(0, x, y)), `pixel ${x},${y}`);
  }
  // the overview averages the stored level-0 values and is stored to the same quantum
  const o1 = averageLevel(full.map((v) => q(v)), 300, 200, false, -9999);
  const got1 = f32(info.levels[1].bands[0]);
  for (let i = 0; i < got1.length; i++) assert.equal(got1[i], q(Math.fround(o1.data[i])), `overview value ${i}`);
  assert.ok(readFileSync(path).length < 0.8 * readFileSync(exactPath).length, `quantised ${readFileSync(path).length} B vs exact ${readFileSync(exactPath).length} B`);
  // the exact file with the run-length strategy still holds the exact values
  const exact = f32(gdalInspect(exactPath).levels[0].bands[0]);
  for (let i = 0; i < exact.length; i += 37) assert.equal(exact[i], full[i]);
});

test('uint16 / int16 multi-band, predictor and no compression, round and clamp instead of wrapping', skip, async () => {
  for (const [sampleType, compression] of [['uint16', 'deflate'], ['int16', 'deflate'], ['int16', 'none']] as const) {
    const path = join(dir, `${sampleType}-${compression}.tif`);
    const lo = sampleType === 'uint16' ? 0 : -32768, hi = sampleType === 'uint16' ? 65535 : 32767;
    const value = (b: number, x: number, y: number) => (x === 0 && y === 0 ? 1e9 : x === 1 && y === 0 ? -1e9 : (b + 1) * 1000 + x * 37 - y * 53 + 0.4);
    await writeFrom(path, { grid: grid(90, 40), bands: 2, sampleType, compression, tileSize: 16 }, value);
    const info = gdalInspect(path);
    assert.deepEqual(info.cogErrors, [], `${sampleType} ${compression}`);
    assert.equal(info.dataType, sampleType === 'uint16' ? 'UInt16' : 'Int16');
    assert.equal(info.imageStructure.COMPRESSION, compression === 'deflate' ? 'DEFLATE' : undefined);
    for (let b = 0; b < 2; b++) {
      const buf = info.levels[0].bands[b];
      for (let y = 0; y < 40; y++) for (let x = 0; x < 90; x++) {
        const i = (y * 90 + x) * 2;
        const got = sampleType === 'uint16' ? buf.readUInt16LE(i) : buf.readInt16LE(i);
        assert.equal(got, Math.min(hi, Math.max(lo, Math.round(value(b, x, y)))));
      }
    }
  }
});

test('the same input gives byte-identical files; BigTIFF and rotated transforms read back', skip, async () => {
  const opts: CogOptions = { grid: grid(300, 280), bands: 3, sampleType: 'uint8' };
  await writeFrom(join(dir, 'a.tif'), opts, pattern);
  await writeFrom(join(dir, 'b.tif'), opts, pattern);
  assert.ok(readFileSync(join(dir, 'a.tif')).equals(readFileSync(join(dir, 'b.tif'))));

  await writeFrom(join(dir, 'big.tif'), { ...opts, bigtiff: true }, pattern);
  const big = gdalInspect(join(dir, 'big.tif'));
  assert.deepEqual(big.cogErrors, []);
  assert.equal(readFileSync(join(dir, 'big.tif')).readUInt16LE(2), 43);
  assert.deepEqual(big.levels[0].bands[1], gdalInspect(join(dir, 'a.tif')).levels[0].bands[1]);

  const rotated: Affine = [500000, 0.4, 0.1, 5000000, 0.1, -0.4];
  await writeFrom(join(dir, 'rot.tif'), { ...opts, grid: grid(300, 280, rotated) }, pattern);
  const rot = gdalInspect(join(dir, 'rot.tif'), { pixels: false });
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(rot.geoTransform[i] - rotated[i]) < 1e-9, `geotransform[${i}]`);
  assert.equal(rot.epsg, 32610);

  await writeFrom(join(dir, 'geo.tif'), { ...opts, grid: grid(300, 280, [-122, 0.0001, 0, 44, 0, -0.0001], WGS84) }, pattern);
  assert.equal(gdalInspect(join(dir, 'geo.tif'), { pixels: false }).epsg, 4326);
});

test('compressed tiles held in memory or spooled to a file (all or past a budget) give the same file', async () => {
  const opts: CogOptions = { grid: grid(1000, 900), bands: 1, sampleType: 'float32', nodata: -9999, floatQuantum: 2 ** -10, tileSize: 256 };
  const value = (_b: number, x: number, y: number) => ((x * 13 + y * 7) % 400) / 9 + Math.sin(x / 17) * Math.cos(y / 23);
  const files = [];
  for (const spoolMemoryBytes of [undefined, 0, 200_000]) {
    const path = join(dir, `spool-${spoolMemoryBytes}.tif`);
    await writeFrom(path, { ...opts, spoolMemoryBytes }, value, Float32Array);
    files.push(readFileSync(path));
  }
  assert.ok(files[0].length > 400_000, `${files[0].length} bytes: the 200 kB budget is passed part way`);
  assert.ok(files[1].equals(files[0]), 'all spooled to files');
  assert.ok(files[2].equals(files[0]), 'spooled past the budget');
  const back = await openRaster(join(dir, 'spool-0.tif'));
  const block = await back.readWindow({ x: 990, y: 890, width: 10, height: 10 });
  assert.equal(block.bands[0][9 * 10 + 9], Math.round(value(0, 999, 899) * 1024) / 1024);
});

test('writeCogImage: masked pixels become nodata', skip, async () => {
  const g = grid(20, 10);
  const band = new Float32Array(200).map((_, i) => i / 4);
  const mask = new Uint8Array(200).fill(1);
  mask[5] = 0;
  const path = join(dir, 'img.tif');
  await writeCogImage(path, { grid: g, bands: [band], mask }, { sampleType: 'float32', nodata: -1 });
  const info = gdalInspect(path);
  const buf = info.levels[0].bands[0];
  const got = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  assert.equal(got[5], -1);
  assert.equal(got[6], 1.5);
  assert.equal(info.nodata, -1);

  // No nodata given for a masked float image: NaN, which GDAL reports as such.
  const nanPath = join(dir, 'img-nan.tif');
  await writeCogImage(nanPath, { grid: g, bands: [band], mask }, { sampleType: 'float32' });
  const nan = gdalInspect(nanPath);
  assert.equal(nan.nodata, 'nan');
  assert.ok(Number.isNaN(nan.levels[0].bands[0].readFloatLE(5 * 4)));
});

test('bad input is a clear error and leaves no file or temp directory behind', async () => {
  const sub = mkdtempSync(join(tmpdir(), 'cog-bad-'));
  const path = join(sub, 'bad.tif');
  await assert.rejects(writeCog(path, { grid: grid(40, 40), bands: 2, sampleType: 'uint8' }, () => [new Uint8Array(1600)]), InvalidInputError);
  await assert.rejects(writeCog(path, { grid: grid(40, 40), bands: 1, sampleType: 'uint8' }, () => [new Uint8Array(10)]), /expected 1600/);
  await assert.rejects(writeCog(path, { grid: grid(0, 40), bands: 1, sampleType: 'uint8' }, () => []), InvalidInputError);
  await assert.rejects(writeCog(path, { grid: grid(40, 40), bands: 1, sampleType: 'uint8', tileSize: 100 }, () => []), /multiple of 16/);
  await assert.rejects(writeCog(path, { grid: grid(40, 40), bands: 1, sampleType: 'uint8', nodata: 300 }, () => []), /not representable/);
  await assert.rejects(writeCog(path, { grid: grid(40, 40), bands: 1, sampleType: 'uint8' }, () => { throw new Error('producer failed'); }), /producer failed/);
  await assert.rejects(writeCog(path, { grid: grid(40, 40), bands: 1, sampleType: 'float32', floatQuantum: 0.001 }, () => []), /power of two/);
  await assert.rejects(writeCog(path, { grid: grid(40, 40), bands: 1, sampleType: 'uint8', floatQuantum: 0.5 }, () => []), /float raster/);
  await assert.rejects(writeCog(path, { grid: grid(40, 40), bands: 1, sampleType: 'float32', deflateStrategy: 'fast' as 'rle' }, () => []), /deflateStrategy/);
  assert.equal(existsSync(path), false);
  assert.deepEqual(readdirSync(sub), []);
});

test('a user-defined CRS read from a GeoTIFF is written back so GDAL reads the same CRS', { skip: gdalMissing || pythonGdalMissing }, async () => {
  const proj4s = [
    '+proj=tmerc +lat_0=0 +lon_0=13.3 +k=1 +x_0=0 +y_0=0 +ellps=bessel +units=m',
    '+proj=lcc +lat_1=33 +lat_2=45 +lat_0=39 +lon_0=-96 +x_0=0 +y_0=0 +datum=NAD83 +units=us-ft',
    '+proj=cass +lat_0=10.44166666666667 +lon_0=-61.33333333333334 +x_0=86501.46392051999 +y_0=65379.0134283 +a=6378293.645208759 +b=6356617.987679838 +units=m',
    '+proj=omerc +no_uoff +lat_0=4 +lonc=102.25 +alpha=323.025796466667 +gamma=323.130102361111 +k=0.99984 +x_0=804671 +y_0=0 +ellps=GRS80 +units=m',
    '+proj=omerc +lat_0=4 +lonc=115 +alpha=53.3158204722222 +gamma=53.1301023611111 +k=0.99984 +x_0=590476.87 +y_0=442857.65 +a=6377298.556 +rf=300.8017 +units=m',
  ];
  const made = makeGeoTiffs(dir, proj4s.map((epsg, i) => ({ name: `user-crs-${i}`, dtype: 'Byte' as const, bands: 1, epsg, res: 0.5, origin: [1000, 500000] as [number, number], width: 20, height: 20 })));
  for (let i = 0; i < proj4s.length; i++) {
    const src = await openRaster(made[`user-crs-${i}`]);
    assert.equal(src.grid.crs.epsg, null);
    const out = join(dir, `user-crs-${i}-cog.tif`);
    await writeCog(out, { grid: src.grid, bands: 1, sampleType: 'float32' }, (w) => [new Float32Array(w.width * w.height).fill(7)]);
    assert.ok(gdalSameSrs(made[`user-crs-${i}`], out), `${proj4s[i]}: GDAL reads the same CRS`);
    const report = gdalInspect(out, { pixels: false });
    assert.deepEqual(report.geoTransform, [...src.grid.transform]);
    assert.deepEqual(report.cogErrors, []);
    assert.deepEqual(report.gdalMessages, [], 'GDAL reads the GeoKeys without complaint');
    // and our reader reads it back as the same CRS
    assert.equal((await openRaster(out)).grid.crs.proj4, src.grid.crs.proj4);
  }
  // a CRS built from ArcGIS's .prj of a State Plane zone in feet: GDAL reads the written file in the
  // CRS it reads the .prj as, and places its corner where we do
  const prj = join(dir, 'or-north-ft.prj');
  writeFileSync(prj, 'PROJCS["NAD_1983_StatePlane_Oregon_North_FIPS_3601_Feet_Intl",GEOGCS["GCS_North_American_1983",DATUM["D_North_American_1983",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],PARAMETER["False_Easting",8202099.737532808],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",-120.5],PARAMETER["Standard_Parallel_1",44.33333333333334],PARAMETER["Standard_Parallel_2",46.0],PARAMETER["Latitude_Of_Origin",43.66666666666666],UNIT["Foot",0.3048]]');
  const crs = crsFromWkt(readFileSync(prj, 'utf8'), 'or-north-ft.prj');
  const grid: Grid = { width: 20, height: 20, transform: [7600000, 1.5, 0, 700030, 0, -1.5], crs };
  const out = join(dir, 'wkt-crs-cog.tif');
  await writeCog(out, { grid, bands: 1, sampleType: 'float32' }, (w) => [new Float32Array(w.width * w.height).fill(7)]);
  const ref = join(dir, 'wkt-crs-ref.tif');
  assert.equal(spawnSync('gdal_translate', ['-q', '-a_srs', prj, out, ref]).status, 0);
  assert.ok(gdalSameSrs(ref, out), 'GDAL reads the written CRS as the .prj');
  const [lonLat] = gdalToWgs84(out, [[7600000, 700030]]);
  const ours = projector(crs, WGS84)(7600000, 700030);
  assert.ok(Math.abs(ours[0] - lonLat[0]) < 1e-8 && Math.abs(ours[1] - lonLat[1]) < 1e-8, `${ours} vs GDAL ${lonLat}`);
});
