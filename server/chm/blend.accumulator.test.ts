import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planWindows, windowWeight, type WindowPlan } from '../../tiles/windows.ts';
import { BlendAccumulator, type Strip } from './blend.accumulator.ts';

function rng(seed: number) {
  return () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
}

/** The straightforward full-raster blend the streaming accumulator must reproduce. */
function bruteForce(plan: WindowPlan, preds: Float32Array[], masks: (Uint8Array | null)[], nodata: number): Float32Array {
  const { width: w, height: h } = plan;
  const size = plan.tiling.tileSize;
  const v = new Float64Array(w * h), wt = new Float64Array(w * h), ok = new Uint8Array(w * h);
  for (const win of plan.windows) {
    for (let ty = 0; ty < size && win.y + ty < h; ty++) for (let tx = 0; tx < size && win.x + tx < w; tx++) {
      const i = (win.y + ty) * w + win.x + tx;
      const g = windowWeight(plan, ty, tx);
      v[i] += g * preds[win.index][ty * size + tx];
      wt[i] += g;
      ok[i] |= masks[win.index] ? masks[win.index]![ty * size + tx] : 1;
    }
  }
  return Float32Array.from(v, (x, i) => (ok[i] ? x / wt[i] : nodata));
}

function runStreaming(plan: WindowPlan, preds: Float32Array[], masks: (Uint8Array | null)[], order: number[], stripHeight: number) {
  const acc = new BlendAccumulator(plan, stripHeight, -9999);
  const out = new Float32Array(plan.width * plan.height);
  const strips: Strip[] = [];
  let maxBytes = 0;
  for (const i of order) {
    acc.add(plan.windows[i], preds[i], 0, masks[i]);
    maxBytes = Math.max(maxBytes, acc.bytes);
    for (let s = acc.takeStrip(); s; s = acc.takeStrip()) {
      strips.push(s);
      out.set(s.values, s.y * plan.width);
    }
  }
  assert.ok(acc.done);
  return { out, strips, maxBytes };
}

test('streaming blend equals the full-raster blend, strips in order, for any order within tile rows', () => {
  const r = rng(7);
  const size = 64;
  const plan = planWindows(150, 301, { tileSize: size, stride: 48 });
  const preds = plan.windows.map(() => Float32Array.from({ length: size * size }, () => 10 + 30 * r()));
  const masks = plan.windows.map(() => null);
  const order: number[] = [];
  for (let row = 0; row < plan.ys.length; row++) {
    const ids = plan.windows.filter((w) => w.row === row).map((w) => w.index);
    ids.sort(() => r() - 0.5);
    order.push(...ids);
  }
  const expected = bruteForce(plan, preds, masks, -9999);
  const { out, strips } = runStreaming(plan, preds, masks, order, 40);
  let maxDiff = 0;
  for (let i = 0; i < out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i] - expected[i]));
  assert.ok(maxDiff < 1e-4, `max diff ${maxDiff}`);
  assert.deepEqual(strips.map((s) => s.y), Array.from({ length: Math.ceil(301 / 40) }, (_, i) => i * 40));
  assert.equal(strips.at(-1)!.height, 301 - 7 * 40);
});

test('a cropped accumulator gives exactly the crop\'s part of every strip, and skips the rows outside it', () => {
  const r = rng(11);
  const size = 64;
  const plan = planWindows(150, 301, { tileSize: size, stride: 48 });
  const preds = plan.windows.map(() => Float32Array.from({ length: size * size }, () => 10 + 30 * r()));
  const masks = plan.windows.map((w) => Uint8Array.from({ length: size * size }, (_, i) => (w.x + (i % size) < 20 ? 0 : 1)));
  const order = plan.windows.map((w) => w.index);
  const { out: full } = runStreaming(plan, preds, masks, order, 40);
  const crop = { x: 13, y: 57, width: 101, height: 170 };
  const acc = new BlendAccumulator(plan, 40, -9999, crop);
  const got = new Float32Array(crop.width * crop.height).fill(NaN);
  const heights: number[] = [];
  for (const i of order) {
    acc.add(plan.windows[i], preds[i], 0, masks[i]);
    for (let s = acc.takeStrip(); s; s = acc.takeStrip()) {
      heights.push(s.height);
      assert.equal(s.x, crop.x);
      assert.equal(s.width, crop.width);
      assert.equal(s.values.length, s.width * s.height);
      if (s.height) got.set(s.values, (s.y - crop.y) * crop.width);
    }
  }
  assert.ok(acc.done);
  // strips of rows 0-40 and 240-301 lie outside the crop: no rows; 40-80 and 200-240 in part
  assert.deepEqual(heights, [0, 23, 40, 40, 40, 27, 0, 0]);
  for (let y = 0; y < crop.height; y++) for (let x = 0; x < crop.width; x++) {
    assert.equal(got[y * crop.width + x], full[(crop.y + y) * plan.width + crop.x + x], `pixel (${x}, ${y}) of the crop`);
  }
  assert.ok(got.includes(-9999) && got.some((v) => v > 0), 'the crop holds nodata and values');
  assert.throws(() => new BlendAccumulator(plan, 40, 0, { x: 100, y: 0, width: 51, height: 10 }), /not a window/);
});

test('nodata input comes out as nodata; a window skipped as all-nodata leaves its pixels nodata', () => {
  const size = 32;
  const plan = planWindows(80, 80, { tileSize: size, stride: 24 });
  const preds = plan.windows.map((w) => new Float32Array(size * size).fill(5 + w.index));
  // the left 10 columns of the raster are nodata
  const masks = plan.windows.map((w) => Uint8Array.from({ length: size * size }, (_, i) => (w.x + (i % size) < 10 ? 0 : 1)));
  const expected = bruteForce(plan, preds, masks, -9999);
  const { out } = runStreaming(plan, preds, masks, plan.windows.map((w) => w.index), 16);
  for (let i = 0; i < out.length; i++) {
    if (i % 80 < 10) assert.equal(out[i], -9999);
    else assert.ok(Math.abs(out[i] - expected[i]) < 1e-4);
  }
  const acc = new BlendAccumulator(plan, 16, -1);
  for (const w of plan.windows) acc.add(w, w.index === 0 ? null : preds[w.index]);
  const first = acc.takeStrip()!;
  assert.equal(first.values[0], -1, 'pixel only window 0 covers is nodata');
});

test('memory held is bounded by tileSize + stripHeight rows, however tall the raster', () => {
  const size = 32;
  const preds = new Float32Array(size * size).fill(1);
  for (const height of [200, 2000]) {
    const plan = planWindows(100, height, { tileSize: size, stride: 24 });
    const acc = new BlendAccumulator(plan, 16, -9999);
    let maxBytes = 0;
    let rows = 0;
    for (const w of plan.windows) {
      acc.add(w, preds);
      maxBytes = Math.max(maxBytes, acc.bytes);
      for (let s = acc.takeStrip(); s; s = acc.takeStrip()) {
        rows += s.height;
        assert.ok(s.values.every((v) => Math.abs(v - 1) < 1e-6));
      }
    }
    assert.equal(rows, height);
    assert.ok(maxBytes <= 100 * (size + 16) * 5, `held ${maxBytes} bytes`);
  }
});

test('adding a window twice is an error', () => {
  const plan = planWindows(40, 40, { tileSize: 32, stride: 24 });
  const acc = new BlendAccumulator(plan, 16, 0);
  acc.add(plan.windows[0], null);
  assert.throws(() => acc.add(plan.windows[0], null));
});
