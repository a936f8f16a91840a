import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRaster, type RasterSource } from '../raster/source.ts';
import { crsFromEpsg } from '../../tiles/projection.ts';
import { BandReader, directChunks, resampledChunks } from './band.reader.ts';
import { modelGrid, windowGrid } from './model.grid.ts';
import { texture, writeRgb } from './test.helpers.ts';

let dir: string;
let source: RasterSource;
const px = texture(8);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'band-reader-'));
  const path = join(dir, 'rgb.tif');
  await writeRgb(path, 700, 600, 0.6, crsFromEpsg(32610), [500000, 5000000], px, (x, y) => !(x < 40 && y < 40));
  source = await openRaster(path);
});
after(() => rm(dir, { recursive: true, force: true }));

test('windows read through the strip cache equal the file, padded as nodata past its edges', async () => {
  const reader = new BandReader(source.grid, directChunks(source), true, { chunkColumns: 300 });
  for (const region of [{ x: 0, y: 0, width: 448, height: 256 }, { x: 384, y: 192, width: 448, height: 256 }, { x: -10, y: 500, width: 100, height: 256 }]) {
    const img = await reader.read(region);
    for (let y = 0; y < region.height; y += 13) {
      for (let x = 0; x < region.width; x += 11) {
        const sx = region.x + x, sy = region.y + y;
        const i = y * region.width + x;
        const inside = sx >= 0 && sy >= 0 && sx < 700 && sy < 600;
        const valid = inside && !(sx < 40 && sy < 40);
        assert.equal(img.mask![i], valid ? 1 : 0, `mask at ${sx},${sy}`);
        if (valid) for (let c = 0; c < 3; c++) assert.equal(img.bands[c][i], Math.max(1, px(sx, sy, c)));
      }
    }
  }
});

test('reading into given planes with stale contents gives what fresh planes get, 0 past the raster', async () => {
  const reader = new BandReader(source.grid, directChunks(source), true, { chunkColumns: 300 });
  for (const region of [{ x: 384, y: 192, width: 448, height: 256 }, { x: -10, y: 500, width: 100, height: 256 }]) {
    const fresh = await reader.read(region);
    const n = region.width * region.height;
    const shared = new Uint8Array(new SharedArrayBuffer(3 * n)).fill(77);
    const into = [0, 1, 2].map((c) => shared.subarray(c * n, (c + 1) * n));
    const got = await reader.read(region, into);
    assert.ok(got.bands.every((b, c) => b === into[c]), 'the planes given are the planes filled');
    for (let c = 0; c < 3; c++) assert.deepEqual(got.bands[c], fresh.bands[c], `band ${c} of ${JSON.stringify(region)}`);
    assert.deepEqual(got.mask, fresh.mask);
  }
  await assert.rejects(reader.read({ x: 0, y: 0, width: 10, height: 10 }, [new Uint8Array(100), new Uint8Array(99), new Uint8Array(100)]), /planes to read/);
});

test('each strip of rows is decoded once while windows sweep the raster', async () => {
  const reader = new BandReader(source.grid, directChunks(source), true);
  for (const y of [0, 192, 344]) for (const x of [0, 192, 384, 444]) await reader.read({ x, y, width: 256, height: 256 });
  assert.equal(reader.decoded, 3, 'rows 0-599 are three 256-row strips');
});

test('resampled strips equal reading each window onto the model grid', async () => {
  const grid = modelGrid(source.grid, 0.9);
  const reader = new BandReader(grid, resampledChunks(source, grid), false, { chunkColumns: 200 });
  const region = { x: 192, y: 192, width: 256, height: 256 };
  const img = await reader.read(region);
  const ref = await source.readGrid(windowGrid(grid, region), { resampling: 'bilinear' });
  for (let i = 0; i < region.width * region.height; i += 7) {
    assert.equal(img.mask![i], ref.mask ? ref.mask[i] : 1);
    if (img.mask![i]) for (let c = 0; c < 3; c++) assert.ok(Math.abs(img.bands[c][i] - ref.bands[c][i]) < 1e-4);
  }
});

test('imagery without nodata: bytes straight from the file, no mask inside the raster, a mask only where a window leaves it', async () => {
  const path = join(dir, 'valid.tif');
  await writeRgb(path, 520, 300, 0.5, crsFromEpsg(32610), [500000, 5000000], px);
  const valid = await openRaster(path);
  const block = await valid.readLevelSamples(0, { x: 0, y: 0, width: 520, height: 256 });
  assert.ok(block.bands.every((b) => b instanceof Uint8Array), 'uint8 samples stay bytes');
  assert.equal(block.mask, null);
  // one chunk spans the width (strips keep the decoded planes) and several do (strips copy them)
  for (const chunkColumns of [4096, 200]) {
    const reader = new BandReader(valid.grid, directChunks(valid), true, { chunkColumns });
    const inside = await reader.read({ x: 100, y: 200, width: 300, height: 100 });
    assert.equal(inside.mask, null, 'no pixel to mask');
    const edge = await reader.read({ x: 400, y: 250, width: 200, height: 80 });
    assert.ok(edge.mask);
    for (const [x, y] of [[0, 0], [119, 49], [120, 0], [0, 50], [199, 79]]) {
      const sx = 400 + x, sy = 250 + y, i = y * 200 + x, on = sx < 520 && sy < 300;
      assert.equal(edge.mask[i], on ? 1 : 0, `mask at ${sx},${sy}`);
      if (on) for (let c = 0; c < 3; c++) assert.equal(edge.bands[c][i], px(sx, sy, c));
    }
    for (let y = 0; y < 100; y += 7) for (let x = 0; x < 300; x += 11) for (let c = 0; c < 3; c++) assert.equal(inside.bands[c][y * 300 + x], px(100 + x, 200 + y, c));
  }
  await valid.close();
});
