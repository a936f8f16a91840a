import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PYTHON } from '../../test/fixtures/geotiffs.ts';
import { crc64, decodeXz, XzError } from './xz.ts';

// liblzma (Python's lzma module) is the reference encoder: the streams below are what xz and libtiff write
const pythonLzmaMissing = spawnSync(PYTHON, ['-c', 'import lzma'], { stdio: 'ignore' }).status === 0 ? false : `Python's lzma module not available under ${PYTHON}`;
const dir = mkdtempSync(join(tmpdir(), 'fm-xz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT = String.raw`
import lzma, math, random, sys, os
random.seed(3)
def image(n):
    return bytes((int(128 + 60 * math.sin(i / 37.0) + 40 * math.sin(i / 5.3)) + random.randint(-3, 3)) & 255 for i in range(n))
L2 = lzma.FILTER_LZMA2
cases = {
  'zeros-preset6': (bytes(70000), [dict(id=L2, preset=6)], lzma.CHECK_NONE),
  'image-delta3': (image(120000), [dict(id=lzma.FILTER_DELTA, dist=3), dict(id=L2, preset=6)], lzma.CHECK_NONE),
  'image-crc32-preset1': (image(90000), [dict(id=L2, preset=1)], lzma.CHECK_CRC32),
  'image-crc64-extreme': (image(40000), [dict(id=L2, preset=9 | lzma.PRESET_EXTREME)], lzma.CHECK_CRC64),
  'image-sha256': (image(30000), [dict(id=L2, preset=3)], lzma.CHECK_SHA256),
  'incompressible': (random.randbytes(100000), [dict(id=L2, preset=6)], lzma.CHECK_CRC32),
  'lc0-lp2-pb0': (image(60000), [dict(id=L2, lc=0, lp=2, pb=0, dict_size=1 << 16)], lzma.CHECK_CRC32),
  'lc4-pb4-fast': (image(60000), [dict(id=L2, lc=4, lp=0, pb=4, mode=lzma.MODE_FAST, nice_len=273)], lzma.CHECK_CRC32),
  # over 2 MiB: several LZMA2 chunks, state carried across them, an uncompressed chunk in between
  'chunks': (image(1200000) + random.randbytes(200000) + bytes(900000) + image(300000), [dict(id=lzma.FILTER_DELTA, dist=1), dict(id=L2, preset=2)], lzma.CHECK_CRC32),
  'x86-filter': (image(5000), [dict(id=lzma.FILTER_X86), dict(id=L2, preset=1)], lzma.CHECK_NONE),
}
for name, (data, filters, check) in cases.items():
    open(os.path.join(sys.argv[1], name + '.raw'), 'wb').write(data)
    open(os.path.join(sys.argv[1], name + '.xz'), 'wb').write(lzma.compress(data, format=lzma.FORMAT_XZ, check=check, filters=filters))
`;
if (!pythonLzmaMissing) {
  const r = spawnSync(PYTHON, ['-c', SCRIPT, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`reference streams: ${r.stderr}`);
}
const stream = (name: string) => new Uint8Array(readFileSync(join(dir, `${name}.xz`)));
const raw = (name: string) => new Uint8Array(readFileSync(join(dir, `${name}.raw`)));

test('xz streams from liblzma decode to their input: presets, delta, lc/lp/pb, every check, several chunks', { skip: pythonLzmaMissing }, () => {
  for (const name of ['zeros-preset6', 'image-delta3', 'image-crc32-preset1', 'image-crc64-extreme', 'image-sha256', 'incompressible', 'lc0-lp2-pb0', 'lc4-pb4-fast', 'chunks']) {
    const want = raw(name);
    const got = decodeXz(stream(name), want.length);
    assert.ok(Buffer.from(got).equals(want), `${name}: ${got.length} bytes decoded, ${want.length} expected`);
  }
});

test('an xz stream is refused when damaged, longer than its block or filtered in a way not decoded here', { skip: pythonLzmaMissing }, () => {
  const refused = (bytes: Uint8Array, max: number, reason: RegExp) => assert.throws(() => decodeXz(bytes, max), (e: unknown) => e instanceof XzError && reason.test((e as Error).message), String(reason));
  const s = stream('image-crc32-preset1'), n = raw('image-crc32-preset1').length;
  refused(s, n - 1, /decodes to 90000 bytes, more than the 89999/);
  refused(Uint8Array.from(s, (v, i) => (i === 0 ? 0 : v)), n, /not an xz stream/);
  refused(s.subarray(0, s.length >> 1), n, /runs past the end|ends without|truncated/);
  // a flipped literal bit decodes to other bytes: the CRC32 check catches it
  const flipped = Uint8Array.from(s);
  flipped[flipped.length >> 1] ^= 0x10;
  assert.throws(() => decodeXz(flipped, n), XzError);
  const crc = Uint8Array.from(stream('image-sha256')), m = raw('image-sha256').length;
  // the stream's end: footer 12, index 16 (one block, sizes under 2^14 and 2^28), then the block's 32-byte check
  crc[crc.length - 12 - 16 - 1] ^= 1;
  refused(crc, m, /SHA-256 mismatch/);
  refused(stream('x86-filter'), 5000, /filter 0x4 is not supported/);
});

test('crc64 is xz\'s CRC64 (ECMA-182, reflected): the check value of "123456789"', () => {
  assert.equal(crc64(new TextEncoder().encode('123456789')), 0x995dc9bbdf1939fan);
});
