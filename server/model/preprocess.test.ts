import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { normalisationTable, normaliseTile, percentileMatch, percentiles } from './preprocess.ts';
import { REPO_MODELS_DIR } from './registry.ts';
import { readNpy } from '../chm/npy.ts';

const FIX = join(REPO_MODELS_DIR, '../../shared/fixtures/hrch');
const skip = existsSync(FIX) ? false : `HRCH fixtures missing at ${FIX}`;

test("normaliseTile reproduces Meta's model input bit for bit (uint8/255, then (x-mean)/std in float32)", { skip }, () => {
  const image = readNpy(join(FIX, 'mini_image_512_uint8.npy'));
  const ref = readNpy(join(FIX, 'mini_input_256.npy'));
  const [row0, col0, n] = [64, 96, 256]; // mini_config.json cases['256']
  const bands = [0, 1, 2].map((c) => {
    const b = new Float32Array(n * n);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) b[y * n + x] = image.data[((row0 + y) * 512 + col0 + x) * 3 + c];
    return b;
  });
  const out = normaliseTile(bands, { scale: 1 / 255, mean: [0.42, 0.411, 0.296], std: [0.213, 0.156, 0.143] });
  let mismatches = 0;
  for (let i = 0; i < out.length; i++) if (out[i] !== ref.data[i]) mismatches++;
  assert.equal(mismatches, 0);
});

test("normalisation by table lookup (byte imagery) equals Meta's model input bit for bit", { skip }, () => {
  const image = readNpy(join(FIX, 'mini_image_512_uint8.npy'));
  const ref = readNpy(join(FIX, 'mini_input_256.npy'));
  const [row0, col0, n] = [64, 96, 256];
  const table = normalisationTable({ scale: 1 / 255, mean: [0.42, 0.411, 0.296], std: [0.213, 0.156, 0.143] });
  let mismatches = 0;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) if (table[c * 256 + image.data[((row0 + y) * 512 + col0 + x) * 3 + c]] !== ref.data[c * n * n + y * n + x]) mismatches++;
    }
  }
  assert.equal(mismatches, 0);
});

test('percentiles follow numpy (linear interpolation), skipping masked and NaN values', () => {
  const v = new Float32Array([5, 1, 4, 2, 3, NaN]);
  assert.deepEqual(percentiles(v, [0, 50, 100, 25]), [1, 3, 5, 2]);
  // numpy.percentile([1,2,3,4,5], 5) = 1.2, (.., 95) = 4.8
  const [p5, p95] = percentiles(v, [5, 95]);
  assert.ok(Math.abs(p5 - 1.2) < 1e-12 && Math.abs(p95 - 4.8) < 1e-12);
  assert.deepEqual(percentiles(v, [50], new Uint8Array([1, 1, 0, 0, 0, 1])), [3]);
  assert.ok(Number.isNaN(percentiles(v, [50], new Uint8Array(6))[0]));
});

test("percentileMatch maps each band's own p5/p95 onto the targets, linearly", () => {
  const n = 101;
  const r = Float32Array.from({ length: n }, (_, i) => i / 100); // p5 = 0.05, p95 = 0.95
  const g = Float32Array.from({ length: n }, (_, i) => 0.2 + i / 1000); // p5 = 0.205, p95 = 0.295
  const b = new Float32Array(n).fill(0.5); // flat: only shifted
  const target: [[number, number, number], [number, number, number]] = [[0.1, 0.2, 0.3], [0.6, 0.7, 0.8]];
  const [R, G, B] = percentileMatch([r, g, b], { percentiles: [5, 95], target });
  const [rp5, rp95] = percentiles(R, [5, 95]);
  const [gp5, gp95] = percentiles(G, [5, 95]);
  assert.ok(Math.abs(rp5 - 0.1) < 1e-6 && Math.abs(rp95 - 0.6) < 1e-6, `${rp5} ${rp95}`);
  assert.ok(Math.abs(gp5 - 0.2) < 1e-6 && Math.abs(gp95 - 0.7) < 1e-6, `${gp5} ${gp95}`);
  // Linear: the midpoint of the source range lands on the midpoint of the target range; no clipping.
  assert.ok(Math.abs(R[50] - 0.35) < 1e-6);
  assert.ok(R[0] < 0.1 && R[100] > 0.6);
  assert.ok(B.every((v) => Math.abs(v - 0.3) < 1e-7));
  // Inputs are not modified.
  assert.equal(r[50], Math.fround(0.5));
});

test('bad band counts are refused', () => {
  assert.throws(() => normaliseTile([new Float32Array(4)], { scale: 1, mean: [0, 0, 0], std: [1, 1, 1] }), /3 bands/);
  assert.throws(() => percentileMatch([new Float32Array(4)], { percentiles: [5, 95], target: [[0, 0, 0], [1, 1, 1]] }), /3 bands/);
});
