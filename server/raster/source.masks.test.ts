/**
 * Masks as GDAL writes and reads them: internal masks (with and without their own overviews) and
 * external ones (<file>.msk, its overviews' <file>.msk.ovr), per dataset or per band. Every level's
 * mask must equal the one GDAL gives: the mask band's overview where it has one, else the mask band
 * read at the level's size (nearest), which is how GDAL's readers (gdalwarp, QGIS) see the overview.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { UnreadableRasterError } from '../errors.ts';
import { openRaster } from './source.ts';
import { fileVersion } from './file.version.ts';
import { makeFixtureDir, PYTHON, pythonGdalMissing } from '../../test/fixtures/geotiffs.ts';

const gdaladdoMissing = spawnSync('gdaladdo', ['--version']).status === 0 ? false : 'gdaladdo (gdal-bin) not installed';
const skip = pythonGdalMissing || gdaladdoMissing;
const dir = makeFixtureDir('fm-masks-');
after(() => rmSync(dir, { recursive: true, force: true }));

/** 300 x 200 RGB in UTM 10N; the mask clears the left 90 columns and a disc (per band: a disc each). */
const MAKE = String.raw`
import sys, subprocess
import numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
out, mode, overviews, external_overviews = sys.argv[1], sys.argv[2], sys.argv[3] == '1', sys.argv[4] == '1'
gdal.SetConfigOption('GDAL_TIFF_INTERNAL_MASK', 'YES' if mode == 'internal' else 'NO')
w, h = 300, 200
ds = gdal.GetDriverByName('GTiff').Create(out, w, h, 3, gdal.GDT_Byte, options=['TILED=YES', 'BLOCKXSIZE=64', 'BLOCKYSIZE=64', 'COMPRESS=DEFLATE'])
ds.SetGeoTransform([500000, 0.5, 0, 5000000, 0, -0.5])
s = osr.SpatialReference(); s.ImportFromEPSG(32610); ds.SetProjection(s.ExportToWkt())
y, x = np.mgrid[0:h, 0:w]
for b in range(3): ds.GetRasterBand(b + 1).WriteArray(((x * (b + 1) + y) % 250 + 1).astype(np.uint8))
if mode == 'per-band':
    for b in range(3):
        band = ds.GetRasterBand(b + 1)
        band.CreateMaskBand(0)
        m = np.full((h, w), 255, np.uint8); m[((x - 80 - 60 * b) ** 2 + (y - 100) ** 2) < 45 ** 2] = 0
        band.GetMaskBand().WriteArray(m)
else:
    ds.CreateMaskBand(gdal.GMF_PER_DATASET)
    m = np.full((h, w), 255, np.uint8); m[:, :90] = 0; m[((x - 200) ** 2 + (y - 100) ** 2) < 40 ** 2] = 0
    ds.GetRasterBand(1).GetMaskBand().WriteArray(m)
if overviews: ds.BuildOverviews('AVERAGE', [2, 4])
ds = None
if external_overviews: subprocess.run(['gdaladdo', '-q', '-ro', out, '2', '4'], check=True, stderr=subprocess.DEVNULL)
`;

/** Per level (full resolution, then each overview of band 1), GDAL's mask of every pixel: 1 valid, 0 not. */
const READ = String.raw`
import sys, json
import numpy as np
from osgeo import gdal
ds = gdal.Open(sys.argv[1])
bands = [ds.GetRasterBand(i + 1) for i in range(ds.RasterCount)]
levels = []
for lv in range(1 + bands[0].GetOverviewCount()):
    w, h = (ds.RasterXSize, ds.RasterYSize) if lv == 0 else (bands[0].GetOverview(lv - 1).XSize, bands[0].GetOverview(lv - 1).YSize)
    valid = np.ones((h, w), bool)
    for b in bands:
        mb = b.GetMaskBand()
        # the mask band's own overview of this size, else the mask read at this size (nearest)
        ov = [mb.GetOverview(i) for i in range(mb.GetOverviewCount()) if mb.GetOverview(i).XSize == w and mb.GetOverview(i).YSize == h] if lv else []
        arr = ov[0].ReadAsArray() if ov else mb.ReadAsArray(buf_xsize=w, buf_ysize=h)
        valid &= arr != 0
    levels.append({'width': w, 'height': h, 'valid': valid.astype(np.uint8).ravel().tolist(), 'ownOverview': bool(lv and ov)})
print(json.dumps({'files': ds.GetFileList(), 'levels': levels}))
`;

function make(name: string, mode: 'internal' | 'external' | 'per-band', overviews: boolean, externalOverviews: boolean): string {
  const out = join(dir, `${name}.tif`);
  const r = spawnSync(PYTHON, ['-c', MAKE, out, mode, overviews ? '1' : '0', externalOverviews ? '1' : '0'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return out;
}

function gdalMasks(path: string): { files: string[]; levels: Array<{ width: number; height: number; valid: number[]; ownOverview: boolean }> } {
  const r = spawnSync(PYTHON, ['-c', READ, path], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function assertMasksAsGdal(path: string, sidecars: string[], label: string): Promise<void> {
  const gdal = gdalMasks(path);
  assert.deepEqual(gdal.files.map((f) => f.slice(path.length)).sort(), ['', ...sidecars].sort(), `${label}: the files GDAL opens`);
  const src = await openRaster(path);
  assert.equal(src.metadata.hasMask, true, `${label}: hasMask`);
  assert.equal(src.metadata.externalMask, sidecars.includes('.msk'), `${label}: externalMask`);
  assert.equal(src.levelCount, gdal.levels.length, `${label}: levels`);
  for (const [level, want] of gdal.levels.entries()) {
    const block = await src.readLevel(level, { x: 0, y: 0, width: want.width, height: want.height });
    assert.ok(block.mask, `${label} L${level}: masked`);
    const got = Array.from(block.mask!);
    const differ = got.reduce((n, v, i) => n + (v !== want.valid[i] ? 1 : 0), 0);
    assert.equal(differ, 0, `${label} L${level}: ${differ} mask pixels differ from GDAL's`);
    assert.ok(want.valid.includes(0) && want.valid.includes(1), `${label} L${level}: the mask has both values`);
    // a window inside the level, through the same paths
    const win = { x: 7, y: 5, width: Math.floor(want.width / 2), height: Math.floor(want.height / 2) };
    const part = await src.readLevel(level, win);
    for (let r = 0; r < win.height; r++) {
      for (let c = 0; c < win.width; c++) assert.equal(part.mask ? part.mask[r * win.width + c] : 1, want.valid[(win.y + r) * want.width + win.x + c], `${label} L${level} window (${c}, ${r})`);
    }
  }
}

test('internal masks, with their own overviews or under external ones, read as GDAL reads them', { skip }, async () => {
  await assertMasksAsGdal(make('internal', 'internal', true, false), [], 'internal mask and overviews');
  // GDAL builds no mask overviews into an .ovr of a file with an internal mask: overview reads
  // sample the full resolution's mask (before, the .ovr was not used at all under a mask)
  const underOvr = make('internal-ovr', 'internal', false, true);
  await assertMasksAsGdal(underOvr, ['.ovr'], 'internal mask, external overviews');
  assert.equal((await openRaster(underOvr)).metadata.externalOverviews, true);
});

test('an external mask (<file>.msk) masks the image at every level, with .msk.ovr for external overviews', { skip }, async () => {
  await assertMasksAsGdal(make('msk', 'external', false, false), ['.msk'], '.msk');
  await assertMasksAsGdal(make('msk-internal-ovr', 'external', true, false), ['.msk'], '.msk, internal overviews without mask overviews');
  await assertMasksAsGdal(make('msk-ovr', 'external', false, true), ['.msk', '.ovr', '.msk.ovr'], '.msk and .msk.ovr');
  await assertMasksAsGdal(make('msk-per-band', 'per-band', false, false), ['.msk'], 'per-band .msk');
  // forestmap info says where the mask comes from
  const info = spawnSync(process.execPath, ['bin/forestmap.js', 'info', join(dir, 'msk.tif')], { encoding: 'utf8' });
  assert.equal(info.status, 0, info.stderr);
  assert.match(info.stdout, /300 x 200 pixels, 3 band\(s\) \+ mask \(external \.msk\)\n/);
  const internal = spawnSync(process.execPath, ['bin/forestmap.js', 'info', join(dir, 'internal.tif')], { encoding: 'utf8' });
  assert.match(internal.stdout, /3 band\(s\) \+ mask\n/);
});

test('an .ovr holding its own mask images masks its levels by them, as GDAL\'s overview bands read it', { skip }, async () => {
  // GDAL writes no masks into an .ovr, but an .ovr made as a GeoTIFF of its own (any tool writing
  // an internal mask) holds one: its overview band's mask is that one (GetOverview(0).GetMaskBand()),
  // which here masks a corner the full resolution does not
  const tif = join(dir, 'ovr-own-mask.tif');
  const write = String.raw`
import sys
import numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
gdal.SetConfigOption('GDAL_TIFF_INTERNAL_MASK', 'YES')
def make(path, w, h, mask):
    ds = gdal.GetDriverByName('GTiff').Create(path, w, h, 3, gdal.GDT_Byte, options=['TILED=YES', 'BLOCKXSIZE=64', 'BLOCKYSIZE=64'])
    ds.SetGeoTransform([500000, 150 / w, 0, 5000000, 0, -150 / w])
    s = osr.SpatialReference(); s.ImportFromEPSG(32610); ds.SetProjection(s.ExportToWkt())
    for b in range(3): ds.GetRasterBand(b + 1).WriteArray(np.full((h, w), 100 + b, np.uint8))
    ds.CreateMaskBand(gdal.GMF_PER_DATASET)
    ds.GetRasterBand(1).GetMaskBand().WriteArray(mask)
m = np.full((200, 300), 255, np.uint8); m[:, :90] = 0
make(sys.argv[1], 300, 200, m)
o = np.full((100, 150), 255, np.uint8); o[:, :45] = 0; o[50:, 100:] = 0
make(sys.argv[1] + '.ovr', 150, 100, o)
ds = gdal.Open(sys.argv[1])
ov = ds.GetRasterBand(1).GetOverview(0)
print(''.join('1' if v else '0' for v in ov.GetMaskBand().ReadAsArray().ravel()))
`;
  const r = spawnSync(PYTHON, ['-c', write, tif], { encoding: 'utf8', maxBuffer: 1 << 24 });
  assert.equal(r.status, 0, r.stderr);
  const src = await openRaster(tif);
  assert.equal(src.levelCount, 2);
  assert.equal(src.metadata.externalOverviews, true);
  const block = await src.readLevel(1, { x: 0, y: 0, width: 150, height: 100 });
  const got = Array.from(block.mask!).join('');
  assert.equal(got, r.stdout.trim(), 'the overview level\'s mask is the .ovr\'s own, as GDAL\'s overview band reads it');
  assert.equal(got[60 * 150 + 110], '0', 'the corner only the .ovr masks is masked');
  assert.equal(got[10 * 150 + 110], '1');
});

test('a .msk changes the raster\'s version; a broken one refuses the raster, naming it; a broken .msk.ovr only costs speed', { skip }, async () => {
  const tif = make('msk-version', 'external', false, true);
  const mask = `${tif}.msk`;
  const good = join(dir, 'good.msk');
  copyFileSync(mask, good);
  let clock = Date.now();
  // each change is a new mtime, as an edit would make it
  const touch = (path: string) => { clock += 5000; utimesSync(path, new Date(clock), new Date(clock)); };

  const withMask = fileVersion(tif);
  rmSync(mask);
  assert.notEqual(fileVersion(tif), withMask, 'adding or removing a .msk makes another version (the computed canopy heights differ)');
  assert.equal((await openRaster(tif)).metadata.hasMask, false);

  writeFileSync(mask, 'not a TIFF');
  await assert.rejects(openRaster(tif), (err: unknown) => err instanceof UnreadableRasterError && /msk-version\.tif\.msk/.test(err.message) && /mask/.test(err.message));

  // a mask of another size is not this image's
  const half = spawnSync('gdal_translate', ['-q', '-of', 'GTiff', '-outsize', '50%', '50%', good, mask], { encoding: 'utf8' });
  assert.equal(half.status, 0, half.stderr);
  touch(mask);
  await assert.rejects(openRaster(tif), /holds no 300x200 mask/);

  copyFileSync(good, mask);
  touch(mask);
  writeFileSync(`${mask}.ovr`, 'not a TIFF');
  touch(`${mask}.ovr`);
  const src = await openRaster(tif);
  assert.equal(src.levelCount, 3, 'the .ovr levels stay');
  for (let level = 1; level < 3; level++) {
    const g = src.levelGrid(level);
    const block = await src.readLevel(level, { x: 0, y: 0, width: g.width, height: g.height });
    // what GDAL reads from the mask band at this size (no .msk.ovr to take it from)
    const sampled = spawnSync(PYTHON, ['-c', `from osgeo import gdal; import sys; ds = gdal.Open(sys.argv[1]); a = ds.GetRasterBand(1).GetMaskBand().ReadAsArray(buf_xsize=${g.width}, buf_ysize=${g.height}); print(''.join('1' if v else '0' for v in a.ravel()))`, tif], { encoding: 'utf8' });
    assert.equal(sampled.status, 0, sampled.stderr);
    assert.equal(Array.from(block.mask!).join(''), sampled.stdout.trim(), `L${level}: sampled from the full resolution's mask`);
  }
});

test('the canopy height engine leaves the pixels a .msk masks as CHM nodata', { skip }, async () => {
  const { loadManifest } = await import('../model/manifest.ts');
  const { computeChmImage, CHM_NODATA } = await import('../chm/engine.ts');
  const { releaseInferenceRunners } = await import('../chm/inference.runner.ts');
  const { releaseAllSessions } = await import('../model/session.ts');
  const { fileURLToPath } = await import('node:url');
  const manifest = await loadManifest(fileURLToPath(new URL('../chm/testdata/local-conv', import.meta.url)));
  try {
    const tif = make('msk-chm', 'external', false, false);
    const img = await computeChmImage({ source: await openRaster(tif), manifest });
    const { width, height, transform: t } = img.grid;
    const v = img.bands[0];
    let masked = 0, valid = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        // the pixel's centre in the image's 0.5 m pixels; a pixel's width of margin at the mask's edges
        const ix = (t[0] + (x + 0.5) * t[1] - 500000) / 0.5, iy = (5000000 - (t[3] + (y + 0.5) * t[5])) / 0.5;
        const inDisc = (ix - 200) ** 2 + (iy - 100) ** 2;
        const value = v[y * width + x];
        if (ix < 88 || inDisc < 38 ** 2) { assert.equal(value, CHM_NODATA, `masked pixel (${x}, ${y})`); masked++; }
        else if (ix > 92 && inDisc > 42 ** 2 && iy < 198) { assert.notEqual(value, CHM_NODATA, `pixel (${x}, ${y})`); valid++; }
      }
    }
    assert.ok(masked > 1000 && valid > 1000, `${masked} masked, ${valid} valid pixels checked`);
  } finally {
    await releaseInferenceRunners();
    await releaseAllSessions();
  }
});

test('sampled reads give the same pixels whether the span is read whole, in runs of rows, or row by row', { skip }, async () => {
  const { fromFile } = await import('geotiff');
  const { sampledRead } = await import('./sampled.read.ts');
  const tiff = await fromFile(`${make('sampled', 'external', false, false)}.msk`);
  try {
    const image = await tiff.getImage(0);
    const cols = Int32Array.from([3, 4, 50, 51, 120, 299]), rows = Int32Array.from([0, 1, 2, 40, 41, 130, 199]);
    const whole = await sampledRead(image, cols, rows, [0], Infinity);
    assert.ok(whole[0].includes(0) && whole[0].some((v) => v !== 0), 'the samples cross the mask');
    for (const span of [0, 297, 3 * 297, 50 * 297]) assert.deepEqual(await sampledRead(image, cols, rows, [0], span), whole, `runs of at most ${span} pixels`);
    // against the full image
    const full = ((await image.readRasters({ samples: [0], interleave: false } as any)) as unknown as ArrayLike<number>[])[0];
    rows.forEach((r, i) => cols.forEach((c, j) => assert.equal(whole[0][i * cols.length + j], full[r * 300 + c])));
  } finally {
    tiff.close();
  }
});
