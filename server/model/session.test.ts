import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadManifest } from './manifest.ts';
import { getModelSession, releaseAllSessions, applyOutputMapping, cropPlanes } from './session.ts';
import { normaliseTile } from './preprocess.ts';
import { REPO_MODELS_DIR } from './registry.ts';
import { readNpy } from '../chm/npy.ts';
import { planWindows } from '../../tiles/windows.ts';

const FIX = join(REPO_MODELS_DIR, '../../shared/fixtures/hrch');
const skip = existsSync(FIX) ? false : `HRCH fixtures missing at ${FIX}`;
const TOL_M = 5e-3;
after(() => releaseAllSessions());

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

test('hrch-mini through onnxruntime-node matches Meta on every mini case within 5 mm', { skip }, async () => {
  const session = await getModelSession(await loadManifest(join(REPO_MODELS_DIR, 'hrch-mini')));
  for (const c of ['256', '250', '512', '224', '240', '200x300']) {
    const x = readNpy(join(FIX, `mini_input_${c}.npy`));
    const ref = readNpy(join(FIX, `mini_output_${c}.npy`));
    const [, , h, w] = x.shape;
    const out = await session.runRaw(x.data as Float32Array, 1, h, w);
    assert.deepEqual([out.height, out.width], ref.shape.slice(2), `case ${c}: output size`);
    const d = maxAbsDiff(out.data, ref.data);
    assert.ok(d <= TOL_M, `case ${c}: max |diff| ${d} m`);
  }
});

test('run() crops a padded output back to the input size (250 -> 256 padded bottom/right)', { skip }, async () => {
  const session = await getModelSession(await loadManifest(join(REPO_MODELS_DIR, 'hrch-mini')));
  const x = readNpy(join(FIX, 'mini_input_250.npy'));
  const ref = readNpy(join(FIX, 'mini_output_250.npy'));
  const out = await session.run(x.data as Float32Array, 1, 250, 250);
  assert.equal(out.length, 250 * 250);
  assert.ok(maxAbsDiff(out, cropPlanes(ref.data as Float32Array, 1, 256, 256, 250, 250)) <= TOL_M);
});

test("Meta's notebook tiled pipeline on 448x448 (2x2 tiles, one batch, apodization blend) within 5 mm", { skip }, async () => {
  const manifest = await loadManifest(join(REPO_MODELS_DIR, 'hrch-mini'));
  const session = await getModelSession(manifest);
  const image = readNpy(join(FIX, 'mini_image_512_uint8.npy')); // 512 x 512 x 3, HWC
  const ref = readNpy(join(FIX, 'mini_tiled_output_448.npy'));
  const size = 448;
  // taperEdges false: Meta's window exactly (the engine tapers it by default to hide seams).
  const plan = planWindows(size, size, { ...manifest.tiling, taperEdges: false });
  assert.equal(plan.windows.length, 4);
  const T = manifest.tiling.tileSize;
  // The notebook normalises with SSLNorm (red mean 0.430), not the manifest's inference.py 0.420.
  const notebookInput = { ...manifest.input, mean: [0.43, 0.411, 0.296] as [number, number, number] };
  const batch = new Float32Array(plan.windows.length * 3 * T * T);
  for (const win of plan.windows) {
    const bands = [0, 1, 2].map((c) => {
      const band = new Float32Array(T * T);
      for (let y = 0; y < T; y++) for (let x = 0; x < T; x++) band[y * T + x] = image.data[((win.y + y) * 512 + win.x + x) * 3 + c];
      return band;
    });
    normaliseTile(bands, notebookInput, batch.subarray(win.index * 3 * T * T));
  }
  const pred = await session.run(batch, plan.windows.length, T, T);
  // Meta's inverse_blocking in float64: sum(w * (pred + 0.001)) * (1 / (1e-14 + sum(w))).
  const value = new Float64Array(size * size);
  const weight = new Float64Array(size * size).fill(1e-14);
  for (const win of plan.windows) {
    for (let y = 0; y < T; y++) {
      for (let x = 0; x < T; x++) {
        const w = plan.profile[y] * plan.profile[x];
        const i = (win.y + y) * size + win.x + x;
        value[i] += w * Math.fround(pred[win.index * T * T + y * T + x] + Math.fround(0.001));
        weight[i] += w;
      }
    }
  }
  const out = Float32Array.from(value, (v, i) => v * (1 / weight[i]));
  const d = maxAbsDiff(out, ref.data);
  assert.ok(d <= TOL_M, `tiled 448: max |diff| ${d} m`);
});

test('bad shapes are refused with a clear error before reaching onnxruntime', { skip }, async () => {
  const session = await getModelSession(await loadManifest(join(REPO_MODELS_DIR, 'hrch-mini')));
  await assert.rejects(session.run(new Float32Array(10), 1, 32, 32), /expected 1 x 3 x 32 x 32/);
  await assert.rejects(session.run(new Float32Array(0), 0, 32, 32), /batch must be a positive integer/);
  await assert.rejects(session.run(new Float32Array(0), 1, 100000, 32), /exceeds/);
});

test('one session per ONNX file; a released session is not handed out again', { skip }, async () => {
  const m = await loadManifest(join(REPO_MODELS_DIR, 'hrch-mini'));
  const first = await getModelSession(m);
  assert.equal(first, await getModelSession({ ...m }));
  await first.release();
  const second = await getModelSession(m);
  assert.notEqual(second, first);
  assert.equal((await second.run(new Float32Array(3 * 32 * 32), 1, 32, 32)).length, 32 * 32);
});

test('output mapping: metres = relu(raw*scale + offset) unless baked in', () => {
  const raw = new Float32Array([-1, 0.5, 2]);
  assert.deepEqual([...applyOutputMapping(raw.slice(), { units: 'm', scale: 10, offset: 0.001, relu: true, bakedIn: false })], [0, Math.fround(Math.fround(5) + Math.fround(0.001)), Math.fround(20 + Math.fround(0.001))]);
  assert.deepEqual([...applyOutputMapping(raw.slice(), { units: 'm', scale: 10, offset: 0, relu: false, bakedIn: false })], [-10, 5, 20]);
  assert.deepEqual([...applyOutputMapping(raw.slice(), { units: 'm', scale: 10, offset: 0, relu: true, bakedIn: true })], [-1, 0.5, 2]);
  // no offset with relu (the shipped models' mapping) has its own loop: the same values as the
  // general one, to the bit, on awkward inputs (NaN, -0, tiny negatives, values that round)
  const awkward = Float32Array.from({ length: 4096 }, (_, i) => (i % 97 === 0 ? NaN : i % 89 === 0 ? -0 : i % 83 === 0 ? -1e-45 : Math.sin(i) * 7 + (i % 5) * 1e-7));
  // a scale that takes tiny products below float32's range, where a negative one rounds to -0
  for (const scale of [10, 1e-30]) {
    const general = Float32Array.from(awkward, (y) => { const v = Math.fround(y * Math.fround(scale)); return v < 0 ? 0 : v; });
    const got = applyOutputMapping(awkward.slice(), { units: 'm', scale, offset: 0, relu: true, bakedIn: false });
    for (let i = 0; i < got.length; i++) assert.ok(Object.is(got[i], general[i]), `scale ${scale}, value ${i}: ${awkward[i]} gave ${got[i]}, expected ${general[i]}`);
  }
});
