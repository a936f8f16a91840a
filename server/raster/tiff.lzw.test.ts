import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeFixtureDir, PYTHON, pythonGdalMissing } from '../../test/fixtures/geotiffs.ts';
import { decodeTiffLzw, LzwError } from './tiff.lzw.ts';

const dir = makeFixtureDir('fm-lzw-');
after(() => rmSync(dir, { recursive: true, force: true }));

// one strip as GDAL (libtiff) encodes it, and its pixels as GDAL decodes them: noise (the table
// fills and is cleared many times, codes reach 12 bits) over a constant band (long runs)
const SCRIPT = String.raw`
import sys, numpy as np
from osgeo import gdal
gdal.UseExceptions()
out = sys.argv[1]
rng = np.random.default_rng(5)
a = rng.integers(0, 256, (120, 300), dtype=np.uint8)
a[80:] = 77
mem = gdal.GetDriverByName('MEM').Create('', 300, 120, 1, gdal.GDT_Byte)
mem.GetRasterBand(1).WriteArray(a)
ds = gdal.GetDriverByName('GTiff').CreateCopy(out + '.tif', mem, options=['COMPRESS=LZW', 'BLOCKYSIZE=120'])
ds = None
ds = gdal.Open(out + '.tif')
b = ds.GetRasterBand(1)
off, size = int(b.GetMetadataItem('BLOCK_OFFSET_0_0', 'TIFF')), int(b.GetMetadataItem('BLOCK_SIZE_0_0', 'TIFF'))
open(out + '.lzw', 'wb').write(open(out + '.tif', 'rb').read()[off:off + size])
open(out + '.raw', 'wb').write(b.ReadAsArray().tobytes())
`;
const base = join(dir, 'strip');
if (!pythonGdalMissing) {
  const r = spawnSync(PYTHON, ['-c', SCRIPT, base], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`LZW strip: ${r.stderr}`);
}

test('a libtiff LZW strip decodes to GDAL\'s pixels; decoding stops at the block\'s size; a stream cut before its EOI keeps what it holds', { skip: pythonGdalMissing }, () => {
  const stream = new Uint8Array(readFileSync(`${base}.lzw`)), want = new Uint8Array(readFileSync(`${base}.raw`));
  assert.equal(want.length, 36000);
  assert.deepEqual(decodeTiffLzw(stream, want.length), want);
  assert.deepEqual(decodeTiffLzw(stream, 0), want, 'size unknown: the stream says where it ends');
  // a block smaller than the stream (a writer's padding, a wrong RowsPerStrip): only its bytes
  assert.deepEqual(decodeTiffLzw(stream, 30001), want.subarray(0, 30001));
  // without its last bytes (the EOI code and part of the constant run), everything before is kept
  const cut = decodeTiffLzw(stream.subarray(0, stream.length - 3), want.length);
  assert.ok(cut.length > 30000 && cut.length < want.length, `${cut.length} bytes`);
  assert.deepEqual(cut, want.subarray(0, cut.length));
});

/** 9-bit codes, most significant bit first. */
function codes9(list: number[]): Uint8Array {
  const bits = list.map((c) => c.toString(2).padStart(9, '0')).join('').padEnd(Math.ceil((list.length * 9) / 8) * 8, '0');
  return Uint8Array.from(bits.match(/.{8}/g)!, (b) => parseInt(b, 2));
}

test('LZW streams that cannot be decoded are refused with the reason', () => {
  // the string being defined (KwKwK) is legal; a code past it is not
  assert.deepEqual(Array.from(decodeTiffLzw(codes9([256, 65, 258, 257]), 0)), [65, 65, 65]);
  assert.throws(() => decodeTiffLzw(codes9([256, 65, 300, 257]), 0), (e: unknown) => e instanceof LzwError && /code 300 is not in the table yet/.test((e as Error).message));
  assert.throws(() => decodeTiffLzw(codes9([256, 258, 257]), 0), (e: unknown) => e instanceof LzwError && /follows a clear code/.test((e as Error).message));
  // libtiff's pre-5.0 LSB-first LZW: its first code (a clear, 256) leaves the second byte odd
  assert.throws(() => decodeTiffLzw(Uint8Array.of(0, 1, 0, 0), 0), (e: unknown) => e instanceof LzwError && /old-style LZW.*gdal_translate/.test((e as Error).message));
});
