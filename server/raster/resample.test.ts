import { test } from 'node:test';
import assert from 'node:assert/strict';
import { affineMapping, resampleBlock, type PixelBlock } from './resample.ts';

/** Every other row masked, holding NaN or -Infinity (a CHM's nodata as read: NaN, or -1.7e308 in float32). */
function stripedBlock(under: number): PixelBlock {
  const w = 8, h = 8;
  const values = new Float32Array(w * h), mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const valid = y % 2 === 0;
    values[y * w + x] = valid ? 10 + x + y : under;
    mask[y * w + x] = valid ? 1 : 0;
  }
  return { width: w, height: h, bands: [values], mask };
}

test('bilinear resampling drops masked taps without reading their values: NaN or -Infinity under a mask do not spread', () => {
  for (const under of [NaN, -Infinity, Infinity]) {
    const block = stripedBlock(under);
    // 1:1, where the kernel's other three taps carry zero weight
    const same = resampleBlock(block, affineMapping(8, 8, 0, 0, 1, 1), 'bilinear');
    for (let i = 0; i < 64; i++) {
      assert.equal(same.mask![i], block.mask![i], `1:1 mask at ${i} (${under} under the mask)`);
      if (block.mask![i]) assert.equal(same.bands[0][i], block.bands[0][i], `1:1 value at ${i}`);
    }
    // upsampled 2x and shifted by a quarter pixel: every output pixel with a valid tap is finite,
    // and lies between the valid values it mixes
    const up = resampleBlock(block, affineMapping(16, 16, 0.25, 0.25, 0.5, 0.5), 'bilinear');
    let valid = 0;
    for (let i = 0; i < 256; i++) {
      if (!up.mask![i]) continue;
      valid++;
      assert.ok(Number.isFinite(up.bands[0][i]) && up.bands[0][i] >= 10 && up.bands[0][i] <= 24, `upsampled ${i}: ${up.bands[0][i]}`);
    }
    assert.ok(valid > 100, `${valid} valid upsampled pixels`);
    // downsampled (the widened kernel) and averaged, output centres on the valid rows
    for (const method of ['bilinear', 'average'] as const) {
      const down = resampleBlock(block, affineMapping(4, 4, 0, -0.5, 2, 2), method);
      for (let i = 0; i < 16; i++) assert.ok(down.mask![i] && Number.isFinite(down.bands[0][i]), `${method} 2:1 at ${i}: ${down.bands[0][i]}`);
    }
  }
});
