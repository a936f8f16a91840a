import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodeWebpTile } from './native.webp.ts';

/** A lossless WebP of w x h pixels whose samples are (x + 10 y + 50 c) & 255. */
async function webp(w: number, h: number, channels: 3 | 4): Promise<ArrayBuffer> {
  const raw = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < channels; c++) raw[(y * w + x) * channels + c] = c === 3 ? 200 : (x + 10 * y + 50 * c) & 255;
  const out = await sharp(raw, { raw: { width: w, height: h, channels } }).webp({ lossless: true }).toBuffer();
  return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength) as ArrayBuffer;
}

test('a WebP tile decodes to the TIFF\'s samples per pixel: alpha added (opaque) or dropped to match', async () => {
  const rgb = new Uint8Array(await decodeWebpTile(await webp(6, 4, 3), { tileWidth: 6, tileHeight: 4, samplesPerPixel: 4 }));
  assert.equal(rgb.length, 6 * 4 * 4);
  assert.deepEqual([...rgb.subarray((2 * 6 + 3) * 4, (2 * 6 + 3) * 4 + 4)], [23, 73, 123, 255]);
  const rgba = new Uint8Array(await decodeWebpTile(await webp(6, 4, 4), { tileWidth: 6, tileHeight: 4, bitsPerSample: [8, 8, 8] }));
  assert.equal(rgba.length, 6 * 4 * 3, 'three samples: one per BitsPerSample entry');
  assert.deepEqual([...rgba.subarray((1 * 6 + 5) * 3, (1 * 6 + 5) * 3 + 3)], [15, 65, 115]);
});

test('a WebP smaller than the tile (a cropped edge tile or a short last strip) lands at its top left', async () => {
  const out = new Uint8Array(await decodeWebpTile(await webp(5, 3, 3), { tileWidth: 8, tileHeight: 4, samplesPerPixel: 3 }));
  assert.equal(out.length, 8 * 4 * 3);
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 8; x++) {
      const want = x < 5 && y < 3 ? [(x + 10 * y) & 255, (x + 10 * y + 50) & 255, (x + 10 * y + 100) & 255] : [0, 0, 0];
      assert.deepEqual([...out.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3)], want, `pixel ${x},${y}`);
    }
  }
});

test('a WebP larger than the TIFF\'s tiles, or one for other than 3 or 4 samples, is an error, not a misplaced read', async () => {
  await assert.rejects(decodeWebpTile(await webp(9, 4, 3), { tileWidth: 9, tileHeight: 3, samplesPerPixel: 3 }));
  await assert.rejects(decodeWebpTile(await webp(4, 4, 3), { tileWidth: 4, tileHeight: 4, samplesPerPixel: 1 }), /3 or 4 samples per pixel/);
});
