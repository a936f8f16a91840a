import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPredictor } from './tiff.predictor.ts';

/** TIFF's floating point predictor as the specification words it: byte planes (most significant first), then byte differences. */
function reference(bytes: Uint8Array, ts: number, spp: number, bps: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  const rowSamples = ts * spp, rowBytes = rowSamples * bps;
  for (let r = 0; r < ts; r++) {
    const o = r * rowBytes;
    // little-endian host: byte k of a sample is its (k+1)-th least significant
    for (let s = 0; s < rowSamples; s++) for (let k = 0; k < bps; k++) out[o + (bps - 1 - k) * rowSamples + s] = bytes[o + s * bps + k];
    for (let i = rowBytes - 1; i >= spp; i--) out[o + i] = (out[o + i] - out[o + i - spp]) & 0xff;
  }
  return out;
}

test('the floating point predictor gives the byte planes and differences the TIFF specification describes, on every path', () => {
  let seed = 3;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  // float32 one sample per pixel (word transpose and differencing), three samples (byte split),
  // and a tile whose row is not a multiple of four samples; values with every byte in play
  for (const [ts, spp] of [[256, 1], [16, 1], [16, 3], [18, 1], [6, 2]]) {
    const values = Float32Array.from({ length: ts * ts * spp }, (_, i) => (i % 7 === 0 ? -9999 : i % 11 === 0 ? NaN : (rnd() - 0.2) * 10 ** (rnd() * 6 - 3)));
    const bytes = new Uint8Array(values.buffer.slice(0));
    const expected = reference(bytes, ts, spp, 4);
    applyPredictor(bytes, 3, ts, spp, 4);
    assert.deepEqual(bytes, expected, `${ts} x ${ts} x ${spp}`);
  }
  // a view at an odd byte offset takes the byte paths
  const values = Float32Array.from({ length: 16 * 16 }, () => rnd() * 50);
  const odd = new Uint8Array(values.byteLength + 1);
  odd.set(new Uint8Array(values.buffer), 1);
  const view = odd.subarray(1);
  const expected = reference(view.slice(), 16, 1, 4);
  applyPredictor(view, 3, 16, 1, 4);
  assert.deepEqual(view, expected);
});
