import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crsFromEpsg } from '../../tiles/projection.ts';
import { texture, writeRgb } from '../chm/test.helpers.ts';
import { gdalMissing } from '../../test/gdal.inspect.ts';
import { openRaster } from '../raster/source.ts';

const bin = fileURLToPath(new URL('../../bin/forestmap.js', import.meta.url));
const mini = fileURLToPath(new URL('../../models/hrch-mini', import.meta.url));
let dir: string;
let image: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'canopy-cli-'));
  image = join(dir, 'rgb.tif');
  await writeRgb(image, 500, 300, 0.5, crsFromEpsg(32633), [400000, 6000000], texture(5));
});
after(() => rm(dir, { recursive: true, force: true }));

test('forestmap canopy writes the CHM and reports progress on stderr', () => {
  const out = join(dir, 'chm.tif');
  const r = spawnSync(process.execPath, [bin, 'canopy', '--image', image, '--out', out, '--model', mini], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /\[#+\] 100%  \d+\/\d+ tiles/);
  assert.match(r.stdout, /417x250 px at 0\.6 m/);
  const info = JSON.parse(spawnSync('gdalinfo', ['-json', out], { encoding: 'utf8' }).stdout || '{}');
  if (info.size) assert.deepEqual(info.size, [417, 250]);
  assert.ok(existsSync(out));
});

test('forestmap canopy: clear errors and exit codes for bad input', () => {
  const missing = spawnSync(process.execPath, [bin, 'canopy', '--out', join(dir, 'x.tif')], { encoding: 'utf8' });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--image is required/);
  const noFile = spawnSync(process.execPath, [bin, 'canopy', '--image', join(dir, 'nope.tif'), '--out', join(dir, 'x.tif'), '--model', mini], { encoding: 'utf8' });
  assert.equal(noFile.status, 1);
  assert.match(noFile.stderr, /nope\.tif: no such file/);
  const noModel = spawnSync(process.execPath, [bin, 'canopy', '--image', image, '--out', join(dir, 'x.tif'), '--model', 'no-such-model'], { encoding: 'utf8' });
  assert.equal(noModel.status, 1);
  assert.match(noModel.stderr, /unknown model 'no-such-model'/);
  assert.equal(existsSync(join(dir, 'x.tif')), false);
  // an output path that cannot be written is refused before the model runs (it used to fail after it)
  for (const [out, reason] of [[dir, /--out .* is a folder: name the file to write in it/], [join(dir, 'absent', 'x.tif'), /--out .*x\.tif: there is no folder .*absent/]] as const) {
    const r = spawnSync(process.execPath, [bin, 'canopy', '--image', image, '--out', out, '--model', mini], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, reason);
    assert.doesNotMatch(r.stderr, /with model/, 'no tile was computed');
  }
});

test('forestmap canopy: a paletted image gives the CHM of its RGB expansion; a grey image exits 1 before any tile', { skip: gdalMissing }, async () => {
  const pal = join(dir, 'pal.tif');
  const made = spawnSync('gdal_translate', ['-q', '-b', '1', '-co', 'PHOTOMETRIC=PALETTE', image, pal], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const expandedRgb = join(dir, 'pal-rgb.tif');
  const expanded = spawnSync('gdal_translate', ['-q', '-expand', 'rgb', pal, expandedRgb], { encoding: 'utf8' });
  assert.equal(expanded.status, 0, expanded.stderr);
  const chmOf = (img: string, out: string) => {
    const r = spawnSync(process.execPath, [bin, 'canopy', '--image', img, '--out', out, '--model', mini], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  };
  chmOf(pal, join(dir, 'pal-chm.tif'));
  chmOf(expandedRgb, join(dir, 'pal-rgb-chm.tif'));
  const [a, b] = await Promise.all(['pal-chm.tif', 'pal-rgb-chm.tif'].map(async (f) => {
    const src = await openRaster(join(dir, f));
    return (await src.readLevel(0, { x: 0, y: 0, width: src.grid.width, height: src.grid.height })).bands[0];
  }));
  assert.ok(a.length > 0);
  assert.deepEqual(a, b);

  const grey = join(dir, 'grey.tif');
  assert.equal(spawnSync('gdal_translate', ['-q', '-b', '1', image, grey]).status, 0);
  const r = spawnSync(process.execPath, [bin, 'canopy', '--image', grey, '--out', join(dir, 'grey-chm.tif'), '--model', mini], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /canopy height needs an RGB raster \(3 bands\), this one has 1; a one-band raster of heights is used as a CHM/m);
  assert.doesNotMatch(r.stderr, /tiles/, 'refused before the first window');
  assert.equal(existsSync(join(dir, 'grey-chm.tif')), false);
});

test('forestmap canopy: SIGINT cancels and leaves no output', async () => {
  const big = join(dir, 'big.tif');
  await writeRgb(big, 1600, 1600, 0.6, crsFromEpsg(32633), [400000, 6000000], texture(6));
  const out = join(dir, 'cancelled.tif');
  const child = spawn(process.execPath, [bin, 'canopy', '--image', big, '--out', out, '--model', mini, '--batch', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/\] +\d+%  [1-9]\d*\//.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    child.on('close', (c) => resolve(c));
  });
  assert.equal(code, 1, stderr);
  assert.match(stderr, /cancelled/);
  assert.equal(existsSync(out), false);
});
