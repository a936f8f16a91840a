import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { axisOrigins, planWindows, windowWeight } from './windows.ts';
import { readNpy } from '../server/chm/npy.ts';

const apodizationFixture = fileURLToPath(new URL('../../shared/fixtures/hrch/apodization_256.npy', import.meta.url));

test('axis origins follow Meta (0, 192, 384 ...) and end flush with the raster', () => {
  assert.deepEqual(axisOrigins(448, 256, 192), [0, 192]);
  assert.deepEqual(axisOrigins(640, 256, 192), [0, 192, 384]);
  assert.deepEqual(axisOrigins(700, 256, 192), [0, 192, 384, 444]);
  assert.deepEqual(axisOrigins(100, 256, 192), [0]);
  assert.deepEqual(axisOrigins(256, 256, 192), [0]);
  assert.deepEqual(axisOrigins(257, 256, 192), [0, 1]);
});

test('every output pixel is covered and every weight is positive', () => {
  for (const [w, h] of [[1, 1], [100, 300], [256, 256], [257, 449], [1000, 613]]) {
    const plan = planWindows(w, h, { tileSize: 256, stride: 192 });
    const cover = new Uint16Array(w * h);
    for (const win of plan.windows) {
      for (let y = win.y; y < Math.min(h, win.y + win.size); y++) for (let x = win.x; x < Math.min(w, win.x + win.size); x++) cover[y * w + x]++;
    }
    assert.ok(cover.every((c) => c > 0), `uncovered pixel in ${w}x${h}`);
    assert.ok(plan.windows.every((win) => win.x >= 0 && win.y >= 0 && win.x + win.size <= Math.max(w, 256) && win.y + win.size <= Math.max(h, 256)));
    assert.ok(plan.weightX.every((v) => v > 0) && plan.weightY.every((v) => v > 0));
  }
  for (const window of ['apodization', 'gaussian', 'hann', 'none'] as const) {
    assert.ok(planWindows(300, 300, { tileSize: 256, stride: 192, window }).profile.every((v) => v > 0), window);
  }
});

test('blending constant tiles gives the constant; separable weight sums match the 2-D sum', () => {
  const w = 517, h = 389;
  const plan = planWindows(w, h, { tileSize: 256, stride: 192 });
  const value = new Float64Array(w * h);
  const weight = new Float64Array(w * h);
  for (const win of plan.windows) {
    for (let ty = 0; ty < win.size && win.y + ty < h; ty++) {
      for (let tx = 0; tx < win.size && win.x + tx < w; tx++) {
        const i = (win.y + ty) * w + win.x + tx;
        const wt = windowWeight(plan, ty, tx);
        value[i] += wt * 7.5;
        weight[i] += wt;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      assert.ok(Math.abs(weight[i] - plan.weightY[y] * plan.weightX[x]) < 1e-9 * weight[i]);
      assert.ok(Math.abs(value[i] / weight[i] - 7.5) < 1e-12);
    }
  }
});

test("Meta's apodization window matches the fixture", { skip: existsSync(apodizationFixture) ? false : `missing ${apodizationFixture}` }, () => {
  const fixture = readNpy(apodizationFixture);
  assert.deepEqual(fixture.shape, [256, 256]);
  const plan = planWindows(256, 256, { tileSize: 256, stride: 192, window: 'apodization', taperEdges: false });
  let maxDiff = 0;
  for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) maxDiff = Math.max(maxDiff, Math.abs(windowWeight(plan, y, x) - fixture.data[y * 256 + x]));
  assert.ok(maxDiff < 1e-12, `max diff ${maxDiff}`);
});

test('bad tiling is rejected', () => {
  assert.throws(() => planWindows(10, 10, { tileSize: 256, stride: 0 }), RangeError);
  assert.throws(() => planWindows(10, 10, { tileSize: 256, stride: 300 }), RangeError);
  assert.throws(() => planWindows(0, 10, { tileSize: 256, stride: 192 }), RangeError);
});

test('tapered windows reach ~0 at the tile edge, peak unchanged, still positive', () => {
  const plan = planWindows(256, 256, { tileSize: 256, stride: 192 });
  const p = plan.profile;
  assert.ok(p[0] > 0 && p[0] < 1e-6 && p[255] < 1e-6, `edge ${p[0]}`);
  assert.ok(Math.abs(p[128] - 1) < 1e-9);
  const meta = planWindows(256, 256, { tileSize: 256, stride: 192, taperEdges: false }).profile;
  assert.ok(Math.abs(meta[0] - 0.045736) < 1e-5, 'untapered keeps Meta edge value');
});
