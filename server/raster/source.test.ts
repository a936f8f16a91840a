import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { crsFromEpsg, projector, WGS84 } from '../../tiles/projection.ts';
import { UnreadableRasterError } from '../errors.ts';
import { openRaster, type RasterSource } from './source.ts';
import { FIXTURES, makeBadFiles, makeFixtureDir, makeGeoTiff, makeGeoTiffs, pythonGdalMissing, type FixtureSpec } from '../../test/fixtures/geotiffs.ts';
import { gdalInspect, gdalMissing, gdalToWgs84 } from '../../test/gdal.inspect.ts';
import type { Grid } from './types.ts';

const skip = pythonGdalMissing || gdalMissing;
const gdalwarpMissing = spawnSync('gdalwarp', ['--version']).status === 0 ? false : 'gdalwarp (gdal-bin) not installed';
const dir = makeFixtureDir();
after(() => rmSync(dir, { recursive: true, force: true }));
const paths = skip ? {} : makeGeoTiffs(dir, FIXTURES);

function typed(buf: Buffer, dataType: string): ArrayLike<number> {
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  switch (dataType) {
    case 'Byte': return new Uint8Array(ab);
    case 'UInt16': return new Uint16Array(ab);
    case 'Int16': return new Int16Array(ab);
    case 'Float32': return new Float32Array(ab);
    case 'Float64': return new Float64Array(ab);
    default: throw new Error(`type ${dataType}`);
  }
}

test('metadata and every level\'s pixels match GDAL for each generated layout', { skip }, async () => {
  for (const spec of FIXTURES) {
    const path = paths[spec.name];
    const src = await openRaster(path);
    const gdal = gdalInspect(path);
    const m = src.metadata;
    const dataBands = gdal.bandCount - (spec.alpha ? 1 : 0);
    assert.equal(m.bandCount, dataBands, `${spec.name} bands`);
    assert.equal(m.crs.epsg, gdal.epsg, `${spec.name} epsg`);
    assert.deepEqual([...m.transform], gdal.geoTransform, `${spec.name} transform`);
    assert.equal(m.nodata, gdal.nodata === 'nan' ? NaN : gdal.nodata, `${spec.name} nodata`);
    assert.equal(m.hasAlpha, !!spec.alpha, `${spec.name} alpha`);
    assert.equal(m.layout, spec.tiled ? 'tiled' : 'stripped');
    assert.equal(m.planarConfig, spec.interleave === 'BAND' && spec.bands > 1 ? 'planar' : 'chunky', `${spec.name} planar`);
    assert.equal(m.compression, (spec.compress ?? 'NONE').toLowerCase().replace('none', 'none'));
    assert.deepEqual(m.overviews.map((o) => [o.width, o.height]), gdal.levels.slice(1).map((l) => [l.width, l.height]), `${spec.name} overviews`);
    for (let level = 0; level < gdal.levels.length; level++) {
      const gl = gdal.levels[level];
      const block = await src.readLevel(level, { x: 0, y: 0, width: gl.width, height: gl.height });
      for (let b = 0; b < dataBands; b++) {
        const expected = typed(gl.bands[b], gdal.dataType);
        const got = block.bands[b];
        for (let i = 0; i < expected.length; i += 7) assert.equal(got[i], Math.fround(expected[i]), `${spec.name} L${level} b${b} px${i}`);
      }
      if (spec.alpha) {
        const alpha = typed(gl.bands[dataBands], 'Byte');
        for (let i = 0; i < alpha.length; i += 5) assert.equal(block.mask ? block.mask[i] : 1, alpha[i] > 0 ? 1 : 0, `${spec.name} alpha px${i}`);
      }
      if (spec.nodata !== undefined && level === 0) {
        const nd = typed(gl.bands[0], gdal.dataType);
        let masked = 0;
        for (let i = 0; i < nd.length; i++) {
          const isNodata: boolean = nd[i] === spec.nodata;
          assert.equal(block.mask ? block.mask[i] : 1, isNodata ? 0 : 1);
          masked += isNodata ? 1 : 0;
        }
        assert.ok(masked > 0, `${spec.name} has nodata pixels to mask`);
      }
    }
  }
});

test('bad files are refused with UnreadableRasterError naming the reason', { skip }, async () => {
  const bad = makeBadFiles(dir, paths[FIXTURES[0].name]);
  const reasons: Record<string, RegExp> = {
    notTiff: /not a TIFF/, corrupt: /corrupt|not a TIFF/, truncated: /truncated/, absurd: /absurd dimensions/,
    noGeo: /not georeferenced|no georeferencing/, userCrs: /user-defined CRS: projection method 22 is not one this reader builds .*reproject it to an EPSG CRS/,
  };
  for (const [kind, path] of Object.entries(bad)) {
    await assert.rejects(openRaster(path), (e: unknown) => e instanceof UnreadableRasterError && reasons[kind].test((e as Error).message), kind);
  }
  await assert.rejects(openRaster(`${dir}/missing.tif`), UnreadableRasterError);
});

test('a failed open is not cached; concurrent opens share one source', { skip }, async () => {
  const path = paths[FIXTURES[0].name];
  const [a, b] = await Promise.all([openRaster(path), openRaster(path)]);
  assert.equal(a, b);
});

async function sameGridRead(src: RasterSource, factor: number, method: 'nearest' | 'bilinear' | 'average') {
  const g = src.grid;
  const t = g.transform;
  const target: Grid = { width: Math.floor(g.width / factor), height: Math.floor(g.height / factor), crs: g.crs, transform: [t[0], t[1] * factor, 0, t[3], 0, t[5] * factor] };
  return src.readGrid(target, { resampling: method });
}

test('readWindow at native size returns the pixels; outside the raster is masked', { skip }, async () => {
  const src = await openRaster(paths['u8-rgb-utm33-strip-lzw-nodata']);
  const native = await src.readLevel(0, { x: 10, y: 20, width: 30, height: 25 });
  const win = await src.readWindow({ x: 10, y: 20, width: 30, height: 25 }, { resampling: 'nearest' });
  assert.deepEqual([...win.bands[1]], [...native.bands[1]]);
  const edge = await src.readWindow({ x: -10, y: -10, width: 20, height: 20 });
  assert.ok(edge.mask);
  assert.equal(edge.mask![0], 0);
  assert.equal(edge.mask![15 * 20 + 15], 1);
  assert.equal(edge.grid.transform[0], src.grid.transform[0] - 10 * src.grid.transform[1]);
});

test('readLevelSamples gives readLevel\'s values and mask, in the file\'s own sample type where that is exact', { skip }, async () => {
  for (const spec of FIXTURES) {
    const src = await openRaster(paths[spec.name]);
    const w = { x: 3, y: 5, width: Math.min(120, src.grid.width - 3), height: Math.min(90, src.grid.height - 5) };
    const [samples, level] = await Promise.all([src.readLevelSamples(0, w), src.readLevel(0, w)]);
    assert.equal(samples.bands.length, level.bands.length, spec.name);
    for (let b = 0; b < level.bands.length; b++) assert.deepEqual(Float32Array.from(samples.bands[b]), level.bands[b], `${spec.name} band ${b}`);
    assert.deepEqual(samples.mask, level.mask, `${spec.name} mask`);
    if (spec.dtype === 'Byte' && src.metadata.nodata === null) assert.ok(samples.bands.every((b) => b instanceof Uint8Array), `${spec.name}: bytes stay bytes`);
    if (spec.alpha) assert.ok(samples.mask && samples.mask.includes(0), `${spec.name}: the alpha band masks pixels`);
  }
});

test('readGrid resamples onto a coarser grid in the same CRS from the fitting overview', { skip }, async () => {
  const src = await openRaster(paths['f32-chm-utm11-tiled-lzw-nodata-ovr']);
  assert.equal(src.levelFor(src.metadata.resolution[0] * 4), 2);
  const full = await src.readLevel(0, { x: 0, y: 0, width: src.grid.width, height: src.grid.height });
  const avg = await sameGridRead(src, 4, 'average');
  assert.equal(avg.grid.width, Math.floor(src.grid.width / 4));
  // an averaged 4x4 block agrees with the mean of the full-resolution block (both ignore nodata)
  const W = src.grid.width;
  for (const [c, r] of [[3, 5], [40, 30], [100, 10]]) {
    let sum = 0, n = 0;
    for (let y = r * 4; y < r * 4 + 4; y++) for (let x = c * 4; x < c * 4 + 4; x++) {
      if (full.mask && !full.mask[y * W + x]) continue;
      sum += full.bands[0][y * W + x];
      n++;
    }
    const got = avg.bands[0][r * avg.grid.width + c];
    // the 4x overview is itself GDAL's average of the full resolution
    assert.ok(Math.abs(got - sum / n) < 1e-3, `cell ${c},${r}: ${got} vs ${sum / n}`);
  }
  const near = await sameGridRead(src, 2, 'nearest');
  assert.ok(near.mask && near.mask.some((v) => v === 0), 'nodata corner stays masked');
});

const neonChm = '../shared/data/neon/NEON_D03_OSBS_DP3_399000_3284000_CHM.tif';
test('NEON CHM with out-of-order TIFF tags reads like GDAL', { skip: existsSync(neonChm) ? skip : 'needs ../shared/data/neon' }, async () => {
  const src = await openRaster(neonChm);
  assert.equal(src.metadata.nodata, -9999);
  assert.equal(src.metadata.crs.epsg, 32617);
  const gdal = gdalInspect(neonChm);
  const expected = typed(gdal.levels[0].bands[0], gdal.dataType);
  const block = await src.readLevel(0, { x: 0, y: 0, width: 1000, height: 1000 });
  for (let i = 0; i < expected.length; i += 997) {
    assert.equal(block.bands[0][i], expected[i]);
    assert.equal(block.mask ? block.mask[i] : 1, expected[i] === -9999 ? 0 : 1);
  }
});

// JPEG-compressed aerial imagery is usually stored as YCbCr (GDAL's PHOTOMETRIC=YCBCR): read raw,
// its planes are luma and chroma, and the model would see a grey-green image. libjpeg (through
// sharp) decodes the blocks as GDAL's libjpeg does; four-sample blocks go to geotiff.js's decoder
const COLOUR_FIXTURES: FixtureSpec[] = [
  { name: 'u8-ycbcr-jpeg-tiled-ovr', dtype: 'Byte', bands: 3, epsg: 32611, res: 0.5, origin: [257900, 4110600], tiled: true, compress: 'JPEG', photometric: 'YCBCR', overviews: [2], smooth: true, width: 200, height: 150 },
  { name: 'u8-ycbcr-jpeg-strip', dtype: 'Byte', bands: 3, epsg: 32611, res: 0.5, origin: [257900, 4110600], compress: 'JPEG', photometric: 'YCBCR', smooth: true, width: 130, height: 70 },
  { name: 'u8-rgb-jpeg-strip', dtype: 'Byte', bands: 3, epsg: 32611, res: 0.5, origin: [257900, 4110600], compress: 'JPEG', smooth: true, width: 130, height: 70 },
  { name: 'u8-rgb-jpeg-planar', dtype: 'Byte', bands: 3, epsg: 32611, res: 0.5, origin: [257900, 4110600], tiled: true, interleave: 'BAND', compress: 'JPEG', width: 130, height: 70 },
  { name: 'u8-gray-jpeg-tiled', dtype: 'Byte', bands: 1, epsg: 32611, res: 0.5, origin: [257900, 4110600], tiled: true, compress: 'JPEG', width: 130, height: 70 },
  { name: 'u8-rgba-jpeg-tiled', dtype: 'Byte', bands: 4, alpha: true, epsg: 32611, res: 0.5, origin: [257900, 4110600], tiled: true, compress: 'JPEG', width: 130, height: 70 },
];
const colourPaths = skip ? {} : makeGeoTiffs(dir, COLOUR_FIXTURES);

test('JPEG imagery reads as GDAL reads it: YCbCr as RGB, RGB as stored, planar, grey; with alpha within 2 grey levels', { skip }, async () => {
  for (const spec of COLOUR_FIXTURES) {
    const src = await openRaster(colourPaths[spec.name]);
    const gdal = gdalInspect(colourPaths[spec.name]);
    const bands = spec.bands === 1 ? 1 : 3;
    assert.equal(src.metadata.photometric, spec.photometric === 'YCBCR' ? 'ycbcr' : bands === 1 ? 'minisblack' : 'rgb', spec.name);
    assert.equal(src.metadata.bandCount, bands);
    assert.equal(src.levelCount, gdal.levels.length, `${spec.name} levels`);
    for (let level = 0; level < gdal.levels.length; level++) {
      const gl = gdal.levels[level];
      const block = await src.readLevel(level, { x: 0, y: 0, width: gl.width, height: gl.height });
      if (bands === 3) {
        // one band alone (the tile renderer asks for bands one by one) is the same plane
        const green = await src.readLevel(level, { x: 0, y: 0, width: gl.width, height: gl.height }, { bands: [1] });
        assert.deepEqual(green.bands[0], block.bands[1], `${spec.name} L${level} green alone`);
      }
      for (let b = 0; b < bands; b++) {
        const expected = gl.bands[b];
        if (!spec.alpha) {
          assert.deepEqual(Array.from(block.bands[b]), Array.from(expected), `${spec.name} L${level} band ${b + 1}: GDAL's values exactly`);
          continue;
        }
        // geotiff.js's decoder: its IDCT rounds differently from libjpeg's now and then
        let max = 0;
        for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(block.bands[b][i] - expected[i]));
        assert.ok(max <= 2, `${spec.name} L${level} band ${b + 1}: |value - GDAL| up to ${max}`);
      }
    }
  }
});

// WebP tiles (GDAL's COMPRESS=WEBP) decode through libwebp: lossless ones give GDAL's values exactly
const WEBP_FIXTURES: FixtureSpec[] = [
  { name: 'u8-rgb-webp-tiled', dtype: 'Byte', bands: 3, epsg: 32611, res: 0.5, origin: [257900, 4110600], tiled: true, compress: 'WEBP', webpLossless: true, width: 150, height: 100 },
  { name: 'u8-rgba-webp-strip', dtype: 'Byte', bands: 4, alpha: true, epsg: 32611, res: 0.5, origin: [257900, 4110600], compress: 'WEBP', webpLossless: true, width: 90, height: 70 },
  { name: 'u8-rgb-deflate-webp-ovr', dtype: 'Byte', bands: 3, epsg: 32611, res: 0.5, origin: [257900, 4110600], tiled: true, compress: 'DEFLATE', compressOverview: 'WEBP', overviews: [2, 4], width: 256, height: 256 },
];
const webpPaths = skip ? {} : makeGeoTiffs(dir, WEBP_FIXTURES);

test('WebP-compressed imagery (tiled, stripped, with alpha, in overviews) reads as GDAL reads it', { skip }, async () => {
  for (const spec of WEBP_FIXTURES) {
    const path = webpPaths[spec.name];
    const src = await openRaster(path);
    const gdal = gdalInspect(path);
    assert.equal(src.levelCount, gdal.levels.length, `${spec.name}: every level read, the WebP overviews too`);
    for (let level = 0; level < gdal.levels.length; level++) {
      const gl = gdal.levels[level];
      const got = await src.readLevelSamples(level, { x: 0, y: 0, width: gl.width, height: gl.height });
      // lossless WebP decodes to the stored bytes; lossy overviews to what libwebp gives GDAL too
      for (let b = 0; b < 3; b++) assert.deepEqual(Array.from(got.bands[b]), [...gl.bands[b]], `${spec.name} L${level} band ${b + 1}`);
      if (spec.alpha) {
        const alpha = gl.bands[3];
        assert.ok(got.mask && alpha.includes(0), `${spec.name}: the alpha band masks pixels`);
        for (let i = 0; i < alpha.length; i++) assert.equal(got.mask![i], alpha[i] === 0 ? 0 : 1, `${spec.name} L${level} mask at ${i}`);
      }
    }
  }
});

// LZMA blocks (GDAL's COMPRESS=LZMA: an xz stream per block, libtiff's delta filter) decode to GDAL's values exactly
const LZMA_FIXTURES: FixtureSpec[] = [
  { name: 'u8-rgb-lzma-tiled-pred2-ovr', dtype: 'Byte', bands: 3, epsg: 32632, res: 0.5, origin: [600000, 5300000], tiled: true, compress: 'LZMA', predictor: 2, overviews: [2, 4], width: 250, height: 190 },
  { name: 'f32-chm-lzma-strip-pred3-nodata', dtype: 'Float32', bands: 1, epsg: 32611, res: 0.5, origin: [257900, 4110600], compress: 'LZMA', predictor: 3, nodata: -9999, width: 210, height: 170 },
  { name: 'u16-rgb-lzma-planar-tiled', dtype: 'UInt16', bands: 3, epsg: 2193, res: 0.5, origin: [1802100, 5467500], interleave: 'BAND', tiled: true, compress: 'LZMA' },
];
const lzmaPaths = skip ? {} : makeGeoTiffs(dir, LZMA_FIXTURES);

test('LZMA-compressed rasters (tiled, stripped, planar, with predictors, in overviews) read as GDAL reads them', { skip }, async () => {
  for (const spec of LZMA_FIXTURES) {
    const path = lzmaPaths[spec.name];
    const src = await openRaster(path);
    const gdal = gdalInspect(path);
    assert.equal(src.metadata.compression, 'lzma');
    assert.equal(src.levelCount, gdal.levels.length, `${spec.name}: every level read`);
    for (let level = 0; level < gdal.levels.length; level++) {
      const gl = gdal.levels[level];
      const block = await src.readLevel(level, { x: 0, y: 0, width: gl.width, height: gl.height });
      for (let b = 0; b < spec.bands; b++) {
        const expected = typed(gl.bands[b], gdal.dataType);
        assert.deepEqual(Array.from(block.bands[b]), Array.from(expected, (v) => Math.fround(v)), `${spec.name} L${level} band ${b + 1}`);
      }
    }
  }
});

test('an LZMA block whose xz stream is damaged is refused with a reason, not decoded to garbage', { skip }, async () => {
  const path = join(dir, 'lzma-damaged.tif');
  const bytes = readFileSync(lzmaPaths['u16-rgb-lzma-planar-tiled']);
  // every block starts with the xz magic: damage the CRC32 of the first block's header
  const magic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  const at = bytes.indexOf(magic);
  assert.ok(at > 0, 'an xz stream in the file');
  bytes[at + 12 + 3] ^= 0xff; // the stream header is 12 bytes; then the block header's filter flags
  writeFileSync(path, bytes);
  const src = await openRaster(path);
  await assert.rejects(src.readLevel(0, { x: 0, y: 0, width: 64, height: 64 }), (e: unknown) => e instanceof UnreadableRasterError && /cannot decode pixels.*xz block header is corrupt/.test((e as Error).message));
});

test('a compression no codec here decodes is refused at open, naming it', { skip }, async () => {
  // GDAL writes no TIFF codec this reader lacks: relabel a deflate file's blocks as JPEG XL (50002)
  const path = join(dir, 'jpegxl.tif');
  const bytes = readFileSync(paths['u8-rgb-utm32-tiled-deflate-pred2']);
  setShortTag(bytes, 259, 50002);
  writeFileSync(path, bytes);
  await assert.rejects(openRaster(path), (e: unknown) => e instanceof UnreadableRasterError && /jpegxl compression cannot be decoded here.*LZMA.*WebP.*gdal_translate/.test((e as Error).message));
});

/** Sets a SHORT tag of a little-endian classic TIFF's first IFD in place. */
function setShortTag(bytes: Buffer, tag: number, value: number): void {
  assert.equal(bytes.toString('latin1', 0, 2), 'II');
  const ifd = bytes.readUInt32LE(4);
  for (let i = 0; i < bytes.readUInt16LE(ifd); i++) {
    const entry = ifd + 2 + 12 * i;
    if (bytes.readUInt16LE(entry) !== tag) continue;
    assert.equal(bytes.readUInt16LE(entry + 2), 3, 'a SHORT tag');
    bytes.writeUInt16LE(value, entry + 8);
    return;
  }
  throw new Error(`tag ${tag} not in the first IFD`);
}

test('readGrid onto a grid in another CRS (a UTM grid over imagery in degrees) agrees with gdalwarp', { skip: skip || gdalwarpMissing }, async () => {
  const spec: FixtureSpec = { name: 'u8-rgb-4326-smooth', dtype: 'Byte', bands: 3, epsg: 4326, res: 5e-6, origin: [8.7, 50.1], smooth: true, width: 300, height: 220 };
  const path = makeGeoTiff(dir, spec);
  const src = await openRaster(path);
  const utm32 = crsFromEpsg(32632);
  const [x, y] = projector(WGS84, utm32)(8.7004, 50.0998);
  // 0.5 m pixels (the source's are 0.36 x 0.56 m), inside and past the raster's eastern edge
  const target: Grid = { width: 160, height: 120, transform: [Math.round(x), 0.5, 0, Math.round(y), 0, -0.5], crs: utm32 };
  const got = await src.readGrid(target, { resampling: 'bilinear' });
  const ref = join(dir, 'warped.tif');
  const t = target.transform;
  const r = spawnSync('gdalwarp', ['-q', '-overwrite', '-t_srs', 'EPSG:32632', '-te', String(t[0]), String(t[3] - 60), String(t[0] + 80), String(t[3]), '-tr', '0.5', '0.5', '-r', 'bilinear', '-dstalpha', path, ref], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const warped = await openRaster(ref);
  const want = await warped.readLevel(0, { x: 0, y: 0, width: 160, height: 120 });
  let sum = 0, n = 0, far = 0, bothValid = 0, maskDiffers = 0;
  for (let i = 0; i < 160 * 120; i++) {
    const a = got.mask ? got.mask[i] : 1, b = want.mask ? want.mask[i] : 1;
    if (a !== b) { maskDiffers++; continue; }
    if (!a) continue;
    bothValid++;
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(got.bands[c][i] - want.bands[c][i]);
      sum += d; far += d > 3 ? 1 : 0; n++;
    }
  }
  assert.ok(bothValid > 160 * 120 * 0.5 && bothValid < 160 * 120, `${bothValid} pixels valid in both: the grid reaches past the raster`);
  // along the raster's edge the two differ by at most a pixel's width of mask
  assert.ok(maskDiffers < 160 * 2, `${maskDiffers} pixels valid in one read only`);
  assert.ok(sum / n < 0.5, `mean |ours - gdalwarp| ${(sum / n).toFixed(3)}`);
  assert.ok(far / n < 0.01, `${far} of ${n} samples differ by more than 3`);
});

// user-defined projections (GeoKey 32767, as ArcGIS and GDAL write a CRS without an EPSG code)
const USER_CRS: Array<[string, string, [number, number]]> = [
  ['tmerc-bessel', '+proj=tmerc +lat_0=0 +lon_0=13.3 +k=1 +x_0=0 +y_0=0 +ellps=bessel +units=m', [1000, 5000000]],
  ['lcc2-nad83-usft', '+proj=lcc +lat_1=33 +lat_2=45 +lat_0=39 +lon_0=-96 +x_0=0 +y_0=0 +datum=NAD83 +units=us-ft', [150000, 320000]],
  ['lcc1-clarke80', '+proj=lcc +lat_1=46.8 +lat_0=46.8 +lon_0=2.33722917 +k_0=0.99987742 +x_0=600000 +y_0=2200000 +ellps=clrk80 +units=m', [650000, 2210000]],
  ['aea-wgs84', '+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +x_0=0 +y_0=0 +datum=WGS84 +units=m', [-500000, 1500000]],
  ['laea-grs80', '+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=m', [4400000, 3000000]],
  ['sterea-bessel', '+proj=sterea +lat_0=52.15616055555555 +lon_0=5.38763888888889 +k=0.9999079 +x_0=155000 +y_0=463000 +ellps=bessel +units=m', [120000, 480000]],
  ['merc-wgs84', '+proj=merc +lon_0=10 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m', [100000, 5000000]],
  ['utm11-hayford', '+proj=utm +zone=11 +ellps=intl +units=m', [500000, 4100000]],
  ['utm33s-clarke66', '+proj=utm +zone=33 +south +ellps=clrk66 +units=m', [500000, 7100000]],
  ['merc2sp-wgs84', '+proj=merc +lon_0=10 +lat_ts=41 +x_0=0 +y_0=0 +datum=WGS84 +units=m', [100000, 5000000]],
  // State Plane-like zones in feet with false eastings (stored in feet in the GeoKeys)
  ['lcc2-nad83-ft', '+proj=lcc +lat_0=43.6666666666667 +lon_0=-120.5 +lat_1=44.3333333333333 +lat_2=46 +x_0=2500000 +y_0=0 +datum=NAD83 +units=ft', [7600000, 700000]],
  ['tmerc-nad83-usft', '+proj=tmerc +lat_0=31 +lon_0=-106.25 +k=0.9999 +x_0=500000.00001016 +y_0=0 +datum=NAD83 +units=us-ft', [1600000, 300000]],
  ['aea-nad83-usft-negative-y0', '+proj=aea +lat_1=34 +lat_2=40.5 +lat_0=0 +lon_0=-120 +x_0=0 +y_0=-4000000 +datum=NAD83 +units=us-ft', [-300000, 200000]],
  // Cassini-Soldner (Trinidad), and Hotine oblique Mercator: variant A (Peninsular Malaysia RSO, and
  // Michigan's with no rectified grid angle) and variant B (RSO Borneo)
  ['cass-clarke58', '+proj=cass +lat_0=10.44166666666667 +lon_0=-61.33333333333334 +x_0=86501.46392051999 +y_0=65379.0134283 +a=6378293.645208759 +b=6356617.987679838 +units=m', [80000, 60000]],
  ['omerc-a-grs80', '+proj=omerc +no_uoff +lat_0=4 +lonc=102.25 +alpha=323.025796466667 +gamma=323.130102361111 +k=0.99984 +x_0=804671 +y_0=0 +ellps=GRS80 +units=m', [600000, 400000]],
  ['omerc-a-nogamma', '+proj=omerc +no_uoff +lat_0=45.3091666666667 +lonc=-86 +alpha=337.25556 +k=0.9996 +x_0=2546731.496 +y_0=-4354009.816 +ellps=GRS80 +units=m', [500000, 300000]],
  ['omerc-b-everest', '+proj=omerc +lat_0=4 +lonc=115 +alpha=53.3158204722222 +gamma=53.1301023611111 +k=0.99984 +x_0=590476.87 +y_0=442857.65 +a=6377298.556 +rf=300.8017 +units=m', [600000, 500000]],
  // a prime meridian other than Greenwich
  ['lcc1-paris', '+proj=lcc +lat_1=46.8 +lat_0=46.8 +lon_0=0 +k_0=0.99987742 +x_0=600000 +y_0=2200000 +a=6378249.2 +b=6356515 +pm=paris +units=m', [650000, 2210000]],
];

test('a user-defined projected CRS is built from its GeoKeys and places pixels where GDAL does', { skip }, async () => {
  const made = makeGeoTiffs(dir, USER_CRS.map(([name, proj4, origin]) => ({ name: `user-${name}`, dtype: 'Byte', bands: 3, epsg: proj4, res: 0.5, origin, width: 40, height: 30 })));
  for (const [name, proj4] of USER_CRS) {
    const path = made[`user-${name}`];
    const src = await openRaster(path);
    const crs = src.metadata.crs;
    assert.equal(crs.epsg, null, name);
    assert.equal(crs.units, /units=us-ft/.test(proj4) ? 'us-ft' : /units=ft/.test(proj4) ? 'ft' : 'm', `${name} units`);
    const t = src.grid.transform;
    const points: Array<[number, number]> = [[0, 0], [40, 0], [40, 30], [0, 30], [20, 15]].map(([c, r]) => [t[0] + c * t[1], t[3] + r * t[5]]);
    const want = gdalToWgs84(path, points);
    const toWgs = projector(crs, WGS84);
    points.forEach(([x, y], i) => {
      const [lon, lat] = toWgs(x, y);
      assert.ok(Math.abs(lon - want[i][0]) < 1e-8 && Math.abs(lat - want[i][1]) < 1e-8, `${name} point ${i}: ${lon},${lat} vs GDAL ${want[i]}`);
    });
    assert.deepEqual(src.metadata.wgs84Bounds.map((v) => Number.isFinite(v)), [true, true, true, true]);
  }
});

test('a rotated raster resamples onto its own rotated grid as the same raster north up does onto its grid', async () => {
  const { writeCog } = await import('./cog.writer.ts');
  const utm = crsFromEpsg(32610);
  const a = (10 * Math.PI) / 180, res = 0.25;
  const value = (b: number, x: number, y: number) => 60 + 50 * Math.sin(x / (9 + 4 * b)) * Math.cos(y / 7) + b * 20;
  const write = async (name: string, transform: [number, number, number, number, number, number]) => {
    const path = join(dir, name);
    await writeCog(path, { grid: { width: 300, height: 200, transform, crs: utm }, bands: 3, sampleType: 'uint8' }, (w) =>
      [0, 1, 2].map((b) => Uint8Array.from({ length: w.width * w.height }, (_, i) => value(b, i % w.width, w.y + Math.floor(i / w.width)))));
    return openRaster(path);
  };
  const north = await write('north.tif', [560000, res, 0, 4900000, 0, -res]);
  const rotated = await write('rotated.tif', [560000, res * Math.cos(a), res * Math.sin(a), 4900000, res * Math.sin(a), -res * Math.cos(a)]);
  // the model-GSD grid of each (0.5 m), as modelGrid makes it: the same lattice, rotated or not
  const scaled = (g: Grid): Grid => ({ ...g, width: 150, height: 100, transform: [g.transform[0], g.transform[1] * 2, g.transform[2] * 2, g.transform[3], g.transform[4] * 2, g.transform[5] * 2] });
  for (const method of ['bilinear', 'nearest', 'average'] as const) {
    const want = await north.readGrid(scaled(north.grid), { resampling: method });
    const got = await rotated.readGrid(scaled(rotated.grid), { resampling: method });
    for (let b = 0; b < 3; b++) {
      let max = 0;
      for (let i = 0; i < 150 * 100; i++) max = Math.max(max, Math.abs(got.bands[b][i] - want.bands[b][i]));
      assert.ok(max < 1e-3, `${method} band ${b}: differs by up to ${max}`);
    }
    assert.deepEqual(got.mask, want.mask, `${method} mask`);
  }
  // and a 1:1 window of the rotated raster is its pixels
  const win = await rotated.readWindow({ x: 10, y: 20, width: 30, height: 25 });
  const px = await rotated.readLevel(0, { x: 10, y: 20, width: 30, height: 25 });
  for (let b = 0; b < 3; b++) for (let i = 0; i < 30 * 25; i++) assert.ok(Math.abs(win.bands[b][i] - px.bands[b][i]) < 1e-3);
});

test('the GSD of rasters in Web Mercator or degrees is in ground metres (turf\'s great-circle distances across them, independently)', { skip }, async () => {
  const { distance } = await import('@turf/turf');
  for (const name of ['u8-rgba-3857-tiled-deflate-ovr', 'i16-gray-4326-strip-deflate-nodata']) {
    const src = await openRaster(paths[name]);
    const { width: w, height: h, transform: t } = src.grid;
    const toWgs = projector(src.grid.crs, WGS84);
    const at = (c: number, r: number) => toWgs(t[0] + c * t[1], t[3] + r * t[5]);
    const across = distance(at(0, h / 2), at(w, h / 2), { units: 'meters' }) / w;
    const down = distance(at(w / 2, 0), at(w / 2, h), { units: 'meters' }) / h;
    const want = (across + down) / 2;
    assert.ok(Math.abs(src.metadata.gsd - want) / want < 0.01, `${name}: GSD ${src.metadata.gsd} m, on the ground ${want} m`);
  }
});

test('GDAL\'s band scale and offset are applied as values are read (heights stored as centimetres)', { skip }, async () => {
  const spec: FixtureSpec = { name: 'u16-chm-cm-scaled', dtype: 'UInt16', bands: 1, epsg: 32610, res: 0.5, origin: [560000, 4900000], nodata: 65535, scaleOffset: [0.01, -2], width: 80, height: 60 };
  const path = makeGeoTiff(dir, spec);
  const src = await openRaster(path);
  assert.deepEqual(src.metadata.bandScaling, [[0.01, -2]]);
  assert.equal(src.metadata.sampleType, 'uint16', 'the stored type, as GDAL reports it');
  const gdal = gdalInspect(path);
  const stored = typed(gdal.levels[0].bands[0], gdal.dataType);
  const w = { x: 0, y: 0, width: 80, height: 60 };
  const [level, samples] = await Promise.all([src.readLevel(0, w), src.readLevelSamples(0, w)]);
  let masked = 0;
  for (let i = 0; i < stored.length; i++) {
    const isNodata = stored[i] === 65535; // nodata is a stored value, before scaling (GDAL's rule)
    assert.equal(level.mask ? level.mask[i] : 1, isNodata ? 0 : 1, `mask at ${i}`);
    masked += isNodata ? 1 : 0;
    if (!isNodata) assert.equal(level.bands[0][i], Math.fround(Math.fround(stored[i]) * 0.01 - 2), `value at ${i}`);
  }
  assert.ok(masked > 0);
  assert.deepEqual(Float32Array.from(samples.bands[0]), level.bands[0]);
  // a plain file has none
  assert.equal((await openRaster(paths['f32-chm-utm11-tiled-lzw-nodata-ovr'])).metadata.bandScaling, null);
});

test('a TIFF georeferenced by a world file and .prj beside it opens where GDAL places it (EPSG or built from the WKT); a projection not built here is refused with the gdal_translate that works', { skip: skip || gdalwarpMissing }, async () => {
  const { copyFileSync, writeFileSync, utimesSync } = await import('node:fs');
  const bad = makeBadFiles(dir, paths[FIXTURES[0].name]);
  const tif = join(dir, 'ortho-wf.tif');
  copyFileSync(bad.noGeo, tif);
  // the world file gives the centre of the top-left pixel
  writeFileSync(join(dir, 'ortho-wf.tfw'), '0.5\n0\n0\n-0.5\n560000.25\n4899999.75\n');
  // no .prj: the CRS is unknown
  await assert.rejects(openRaster(tif), /ortho-wf\.tfw has no \.prj \(nor an \.aux\.xml with an SRS\) beside it to say the CRS: make a GeoTIFF of it with gdal_translate -of GTiff -a_srs EPSG:<code>/);
  // ArcGIS's .prj of a UTM zone (no AUTHORITY): identified by its name and checked against its parameters
  writeFileSync(join(dir, 'ortho-wf.prj'), 'PROJCS["WGS_1984_UTM_Zone_10N",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",-123.0],PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]');
  const later = new Date(Date.now() + 2000);
  utimesSync(join(dir, 'ortho-wf.prj'), later, later);
  const src = await openRaster(tif);
  assert.equal(src.metadata.georeferencing, 'world-file');
  assert.equal(src.grid.crs.epsg, 32610);
  // GDAL reads the world file too (not the .prj: its SRS stays empty)
  const gdal = gdalInspect(tif, { pixels: false });
  assert.deepEqual([...src.grid.transform], gdal.geoTransform);
  assert.deepEqual([...src.grid.transform], [560000, 0.5, 0, 4900000, 0, -0.5]);
  const block = await src.readLevel(0, { x: 0, y: 0, width: 16, height: 16 });
  assert.deepEqual(Array.from(block.bands[0]), Array.from(gdalInspect(tif).levels[0].bands[0]));

  // ArcGIS's State Plane zone in feet (no EPSG code in it): built from its parameters, placed where
  // GDAL places the GeoTIFF that gdal_translate -a_srs makes of it
  writeFileSync(join(dir, 'ortho-wf.prj'), 'PROJCS["NAD_1983_StatePlane_Oregon_North_FIPS_3601_Feet_Intl",GEOGCS["GCS_North_American_1983",DATUM["D_North_American_1983",SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],PARAMETER["False_Easting",8202099.737532808],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",-120.5],PARAMETER["Standard_Parallel_1",44.33333333333334],PARAMETER["Standard_Parallel_2",46.0],PARAMETER["Latitude_Of_Origin",43.66666666666666],UNIT["Foot",0.3048]]');
  writeFileSync(join(dir, 'ortho-wf.tfw'), '1.5\n0\n0\n-1.5\n7600000.75\n700000.75\n');
  const later2 = new Date(Date.now() + 4000);
  utimesSync(join(dir, 'ortho-wf.prj'), later2, later2);
  const ft = await openRaster(tif);
  assert.deepEqual([ft.grid.crs.epsg, ft.grid.crs.units], [null, 'ft']);
  assert.deepEqual([...ft.grid.transform], [7600000, 1.5, 0, 700001.5, 0, -1.5]);
  assert.equal(spawnSync('gdal_translate', ['-q', '-of', 'GTiff', '-a_srs', 'ortho-wf.prj', 'ortho-wf.tif', 'ft.tif'], { cwd: dir }).status, 0);
  const corners: Array<[number, number]> = [[7600000, 700001.5], [7600024, 699977.5]];
  const want = gdalToWgs84(join(dir, 'ft.tif'), corners);
  corners.forEach(([x, y], i) => {
    const [lon, lat] = projector(ft.grid.crs, WGS84)(x, y);
    assert.ok(Math.abs(lon - want[i][0]) < 1e-8 && Math.abs(lat - want[i][1]) < 1e-8, `corner ${i}: ${lon},${lat} vs GDAL ${want[i]}`);
  });

  // a projection this reader does not build (polyconic): refused, with the command that makes a GeoTIFF
  writeFileSync(join(dir, 'ortho-wf.prj'), 'PROJCS["SAD_1969_Brazil_Polyconic",GEOGCS["GCS_South_American_1969",DATUM["D_South_American_1969",SPHEROID["GRS_1967_Truncated",6378160.0,298.25]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Polyconic"],PARAMETER["False_Easting",5000000.0],PARAMETER["False_Northing",10000000.0],PARAMETER["Central_Meridian",-54.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]');
  const later3 = new Date(Date.now() + 6000);
  utimesSync(join(dir, 'ortho-wf.prj'), later3, later3);
  let message = '';
  await assert.rejects(openRaster(tif), (e: unknown) => e instanceof UnreadableRasterError && !!(message = (e as Error).message));
  assert.match(message, /^ortho-wf\.tif: the TIFF has no GeoKeys and its world file ortho-wf\.tfw has a \.prj whose CRS this reader does not build \(ortho-wf\.prj: its projection Polyconic is not one this reader builds \(.*\)\): make a GeoTIFF of it with gdal_translate -of GTiff -a_srs ortho-wf\.prj ortho-wf\.tif out\.tif$/);
  const command = message.slice(message.indexOf('gdal_translate')).split(' ');
  const r = spawnSync(command[0], command.slice(1), { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(dir, 'out.tif')));
  // a side file larger than any of its kind is not read, and the message says which and why
  writeFileSync(join(dir, 'ortho-wf.prj'), 'PROJCS["x"' + ' '.repeat(70000) + ']');
  await assert.rejects(openRaster(tif), /ortho-wf\.tif: ortho-wf\.prj is larger than 64 KB, more than its kind of side file holds/);

  // GDAL's baseline TIFF: a world file, and the CRS in its .aux.xml (no .prj)
  const r2 = spawnSync('gdal_translate', ['-q', '-co', 'PROFILE=BASELINE', '-co', 'TFW=YES', '-a_srs', 'EPSG:25832', '-a_ullr', '500000', '5600010', '500010', '5600000', bad.noGeo, 'baseline.tif'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r2.status, 0, r2.stderr);
  assert.ok(existsSync(join(dir, 'baseline.tif.aux.xml')) && existsSync(join(dir, 'baseline.tfw')));
  const baseline = await openRaster(join(dir, 'baseline.tif'));
  assert.equal(baseline.metadata.georeferencing, 'world-file');
  assert.equal(baseline.grid.crs.epsg, 25832);
  assert.deepEqual([...baseline.grid.transform], gdalInspect(join(dir, 'baseline.tif'), { pixels: false }).geoTransform);
});

test('a paletted image reads as the RGB of its colour map, as gdal_translate -expand rgb makes it; a nodata index masks', { skip: skip || gdalwarpMissing }, async () => {
  const run = (cmd: string, ...args: string[]) => {
    const r = spawnSync(cmd, args, { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  };
  const rgb = colourPaths['u8-rgb-jpeg-strip'];
  // a median-cut palette of the image, tiled with an overview (nearest: indices must stay indices)
  run('rgb2pct.py', rgb, join(dir, 'pct-strip.tif'));
  run('gdal_translate', '-q', '-co', 'TILED=YES', '-co', 'BLOCKXSIZE=64', '-co', 'BLOCKYSIZE=64', '-co', 'COMPRESS=DEFLATE', 'pct-strip.tif', 'pct.tif');
  run('gdaladdo', '-q', '-r', 'nearest', 'pct.tif', '2');
  run('gdal_translate', '-q', '-expand', 'rgb', 'pct.tif', 'pct-rgb.tif');
  const src = await openRaster(join(dir, 'pct.tif'));
  assert.equal(src.metadata.photometric, 'palette');
  assert.deepEqual([src.metadata.bandCount, src.metadata.sampleType, src.levelCount], [3, 'uint8', 2]);
  const expanded = gdalInspect(join(dir, 'pct-rgb.tif'));
  const indices = gdalInspect(join(dir, 'pct.tif'));
  for (let level = 0; level < 2; level++) {
    const { width, height } = indices.levels[level];
    const block = await src.readLevel(level, { x: 0, y: 0, width, height });
    for (let b = 0; b < 3; b++) {
      // the overview's colours: the colour map at GDAL's overview indices (gdal_translate -expand has none)
      const expected = level === 0 ? expanded.levels[0].bands[b] : null;
      if (expected) assert.deepEqual(Array.from(block.bands[b]), Array.from(expected), `level 0 band ${b}`);
    }
    if (level === 1) {
      const l0 = await src.readLevel(0, { x: 0, y: 0, width: indices.levels[0].width, height: indices.levels[0].height });
      // nearest overview: each pixel is one of its 2x2 parents' colours
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
        const rgbAt = (bl: typeof block, w: number, i: number) => [0, 1, 2].map((b) => bl.bands[b][i]).join(',');
        const parents = [[0, 0], [1, 0], [0, 1], [1, 1]].map(([dx, dy]) => Math.min(2 * y + dy, indices.levels[0].height - 1) * indices.levels[0].width + Math.min(2 * x + dx, indices.levels[0].width - 1));
        assert.ok(parents.some((p) => rgbAt(l0, indices.levels[0].width, p) === rgbAt(block, width, y * width + x)), `overview pixel ${x},${y}`);
      }
    }
  }
  // one band alone is the same plane; bytes as the file's samples give the same colours
  const green = await src.readLevel(0, { x: 3, y: 2, width: 40, height: 30 }, { bands: [1] });
  const all = await src.readLevelSamples(0, { x: 3, y: 2, width: 40, height: 30 });
  assert.deepEqual(Array.from(green.bands[0]), Array.from(all.bands[1]));
  // nodata on a paletted file names an index: those pixels are masked, the others are not
  run('gdal_translate', '-q', '-a_nodata', '0', 'pct.tif', 'pct-nodata.tif');
  const withNodata = await openRaster(join(dir, 'pct-nodata.tif'));
  assert.equal(withNodata.metadata.nodata, null);
  const idx = indices.levels[0].bands[0];
  const { width, height } = indices.levels[0];
  const masked = await withNodata.readLevel(0, { x: 0, y: 0, width, height });
  let zeros = 0;
  for (let i = 0; i < idx.length; i++) {
    assert.equal(masked.mask![i], idx[i] === 0 ? 0 : 1, `pixel ${i} (index ${idx[i]})`);
    zeros += idx[i] === 0 ? 1 : 0;
  }
  assert.ok(zeros > 0 && zeros < idx.length, `${zeros} pixels at index 0`);
});

test('external overviews (<file>.ovr, as gdaladdo -ro and QGIS make them) serve as levels, matching GDAL\'s; a broken one is left out', { skip: skip || gdalwarpMissing }, async () => {
  const { copyFileSync, writeFileSync, utimesSync } = await import('node:fs');
  const spec = FIXTURES[0];
  const tif = join(dir, 'external-ovr.tif');
  copyFileSync(paths[spec.name], tif);
  assert.equal((await openRaster(tif)).levelCount, 1, 'the fixture has no overviews of its own');
  const r = spawnSync('gdaladdo', ['-q', '-ro', '-r', 'average', tif, '2', '4'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(`${tif}.ovr`));
  const src = await openRaster(tif);
  assert.equal(src.metadata.externalOverviews, true);
  const gdal = gdalInspect(tif);
  assert.equal(src.levelCount, 3);
  assert.deepEqual(src.metadata.overviews.map((o) => [o.width, o.height]), gdal.levels.slice(1).map((l) => [l.width, l.height]));
  for (let level = 1; level < 3; level++) {
    const gl = gdal.levels[level];
    const block = await src.readLevel(level, { x: 0, y: 0, width: gl.width, height: gl.height });
    for (let b = 0; b < 3; b++) assert.deepEqual(Array.from(block.bands[b]), Array.from(typed(gl.bands[b], gdal.dataType)), `L${level} b${b}`);
    // the map's low zooms read the overview, not the full resolution
    assert.equal(src.levelFor(src.metadata.resolution[0] * 2 ** level), level);
  }
  // a damaged .ovr (replacing it makes a new version of the raster): the image opens at full resolution only
  writeFileSync(`${tif}.ovr`, 'not a TIFF');
  const later = new Date(Date.now() + 3000);
  utimesSync(`${tif}.ovr`, later, later);
  const damaged = await openRaster(tif);
  assert.notEqual(damaged, src);
  assert.deepEqual([damaged.levelCount, damaged.metadata.externalOverviews], [1, false]);
});
