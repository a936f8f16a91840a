import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as turf from '@turf/turf';
import { detectTrees, requiredHalo } from './detect.ts';
import { detectTreesTiled } from './tiled.ts';
import { findTops } from './lmf.ts';
import { signedArea, traceRings, ringsValid } from './polygons.ts';
import { syntheticForest } from './synthetic.ts';
import type { RasterImage, Window } from '../raster/types.ts';
import type { CrownAlgorithm } from './types.ts';

/** A RasterSource over an in-memory image, reading windows like server/raster/source.ts does. */
function memorySource(image: RasterImage) {
  const { width } = image.grid;
  return {
    grid: image.grid,
    async readWindow(w: Window): Promise<RasterImage> {
      const band = new Float32Array(w.width * w.height);
      for (let y = 0; y < w.height; y++) band.set(image.bands[0].subarray((w.y + y) * width + w.x, (w.y + y) * width + w.x + w.width), y * w.width);
      const t = image.grid.transform;
      return { grid: { ...image.grid, width: w.width, height: w.height, transform: [t[0] + w.x * t[1], t[1], 0, t[3] + w.y * t[5], 0, t[5]] }, bands: [band], mask: null };
    },
  };
}

test('lmf: a fixed window finds exactly the peaks; hmin and ties follow lidR', () => {
  const w = 9, h = 9;
  const chm = new Float32Array(w * h);
  chm[2 * w + 2] = 10; chm[6 * w + 6] = 12; chm[2 * w + 6] = 1.5; // the last is under hmin 2
  // a plateau of two equal pixels: only the first (row-major) is a top
  chm[6 * w + 1] = 8; chm[6 * w + 2] = 8;
  const tops = findTops(chm, w, h, { ws: 3, hmin: 2, shape: 'circular', resX: 1, resY: 1 });
  assert.deepEqual([...tops], [2 * w + 2, 6 * w + 1, 6 * w + 6]);
  // a 7 m window: the 8 m plateau at distance 4.x from the 10 m top survives, within 3 m it would not
  const tops7 = findTops(chm, w, h, { ws: 7, hmin: 2, shape: 'circular', resX: 1, resY: 1 });
  assert.deepEqual([...tops7], [2 * w + 2, 6 * w + 1, 6 * w + 6]);
  const tops11 = findTops(chm, w, h, { ws: 11, hmin: 2, shape: 'circular', resX: 1, resY: 1 });
  assert.deepEqual([...tops11], [2 * w + 2, 6 * w + 6]);
});

test('lmf: the variable window ws = f(h) uses each pixel\'s own height', () => {
  const w = 15, h = 5;
  const chm = new Float32Array(w * h);
  chm[2 * w + 3] = 20; chm[2 * w + 9] = 19; // 6 m apart
  const small = findTops(chm, w, h, { ws: (z) => 0.1 * z + 3, hmin: 2, shape: 'circular', resX: 1, resY: 1 }); // ~5 m windows
  assert.equal(small.length, 2);
  const big = findTops(chm, w, h, { ws: (z) => 0.5 * z + 3, hmin: 2, shape: 'circular', resX: 1, resY: 1 }); // ~12.5 m windows
  assert.deepEqual([...big], [2 * w + 3]);
});

function matchTops(found: { x: number; y: number }[], truth: { x: number; y: number; radius: number }[], x0: number, y0: number) {
  // truth coords are metres from the top-left; found are UTM
  const used = new Set<number>();
  let tp = 0;
  for (const t of truth) {
    let best = -1, bestD = Infinity;
    found.forEach((f, i) => {
      if (used.has(i)) return;
      const d = Math.hypot(f.x - (x0 + t.x), f.y - (y0 - t.y));
      if (d < bestD) { bestD = d; best = i; }
    });
    if (best >= 0 && bestD <= t.radius) { used.add(best); tp++; }
  }
  return { recall: tp / truth.length, precision: tp / found.length };
}

for (const algorithm of ['dalponte', 'silva', 'watershed'] as CrownAlgorithm[]) {
  test(`${algorithm}: tops and crowns of a synthetic forest against its truth`, () => {
    const f = syntheticForest({ width: 160, height: 160, seed: 7, density: 0.008 });
    const r = detectTrees(f.image, { algorithm, ws: (h) => 0.07 * h + 3 });
    const { recall, precision } = matchTops(r.trees, f.trees, 400000, 3280000);
    assert.ok(recall > 0.85, `tops recall ${recall}`);
    assert.ok(precision > 0.9, `tops precision ${precision}`);
    // crown IoU per detected tree against the truth tree owning its top pixel
    let iouSum = 0, n = 0;
    const W = f.image.grid.width;
    r.trees.forEach((t, k) => {
      const col = Math.floor(t.x - 400000), row = Math.floor(3280000 - t.y);
      const owner = f.owner[row * W + col];
      if (owner < 0) return;
      let inter = 0, a = 0, b = 0;
      for (let i = 0; i < r.labels.length; i++) {
        const p = r.labels[i] === k + 1, q = f.owner[i] === owner;
        if (p) a++; if (q) b++; if (p && q) inter++;
      }
      iouSum += inter / (a + b - inter); n++;
    });
    const meanIou = iouSum / n;
    const floor = algorithm === 'silva' ? 0.5 : 0.6;
    assert.ok(meanIou > floor, `mean crown IoU ${meanIou.toFixed(3)}`);
    // per-tree metrics agree with the label raster
    const counts = new Map<number, number>();
    for (const l of r.labels) if (l) counts.set(l, (counts.get(l) ?? 0) + 1);
    r.trees.forEach((t, k) => {
      assert.equal(t.crownArea, counts.get(k + 1) ?? 0);
      assert.ok(Math.abs(t.crownDiameter - 2 * Math.sqrt(t.crownArea / Math.PI)) < 1e-9);
    });
  });
}

test('crown polygons are valid, counter-clockwise, keep holes, and cover the crown pixels', () => {
  const f = syntheticForest({ width: 120, height: 120, seed: 11, density: 0.012 });
  const exact = detectTrees(f.image, { algorithm: 'silva', simplify: 0 });
  const simple = detectTrees(f.image, { algorithm: 'silva' });
  let checked = 0;
  exact.crowns.forEach((poly, k) => {
    if (!poly) return;
    const p = turf.polygon(poly);
    assert.ok(turf.booleanValid(p), `crown ${k} valid`);
    assert.equal(turf.kinks(p).features.length, 0);
    // exact rings enclose exactly the crown's pixels (saddle corner cuts change area by 0.00125 px each)
    const area = Math.abs(ringArea(poly[0])) - poly.slice(1).reduce((s, r) => s + Math.abs(ringArea(r)), 0);
    assert.ok(Math.abs(area - exact.trees[k].crownArea) < 0.02, `area ${area} vs ${exact.trees[k].crownArea}`);
    assert.ok(ringArea(poly[0]) > 0, 'exterior counter-clockwise');
    const sp = simple.crowns[k]!;
    assert.ok(turf.booleanValid(turf.polygon(sp)), `simplified crown ${k} valid`);
    assert.ok(sp[0].length <= poly[0].length);
    checked++;
  });
  assert.ok(checked > 50);
});

function ringArea(r: Array<[number, number]>): number {
  let s = 0;
  for (let i = 0; i + 1 < r.length; i++) s += r[i][0] * r[i + 1][1] - r[i + 1][0] * r[i][1];
  return s / 2;
}

test('tracing keeps holes, splits corner-touching pixels, and never lets a ring touch itself', () => {
  // a ring of pixels with a hole, plus a diagonal pair that touches at a corner
  const w = 7, h = 7;
  const labels = new Int32Array(w * h);
  for (let y = 1; y <= 4; y++) for (let x = 1; x <= 4; x++) labels[y * w + x] = 1;
  labels[2 * w + 2] = 0; labels[3 * w + 3] = 0; // two holes touching at a corner
  labels[5 * w + 5] = 1; // touches the block at a corner only: 4-connectivity keeps it apart
  const pix = [...labels.keys()].filter((i) => labels[i] === 1);
  const rings = traceRings(labels, w, h, 1, pix, new Uint8Array(w * h));
  // outer block, the lone corner pixel, and one hole: the two hole pixels meet at a corner that
  // the crown (4-connected) does not cross, so they form one hole, its saddle corners cut
  assert.equal(rings.length, 3);
  const areas = rings.map((r) => signedArea(r)).sort((a, b) => a - b);
  assert.ok(Math.abs(areas[0] + 2) < 0.01, `hole ${areas}`);
  assert.ok(Math.abs(areas[1] - 1) < 0.01 && Math.abs(areas[2] - 16) < 0.01, `${areas}`);
  const outer = rings.find((r) => signedArea(r) > 10)!;
  const hole = rings.find((r) => signedArea(r) < 0)!;
  assert.ok(ringsValid([outer, hole]));
  // no vertex repeats within the hole ring (the saddle is visited twice, at distinct cut points)
  const pts = new Set<string>();
  for (let i = 0; i < hole.length; i += 2) pts.add(`${hole[i]},${hole[i + 1]}`);
  assert.equal(pts.size, hole.length / 2);
});

for (const algorithm of ['dalponte', 'silva', 'watershed'] as CrownAlgorithm[]) {
  test(`${algorithm}: tiled with halos gives the same trees and crowns as the whole raster`, async () => {
    const f = syntheticForest({ width: 300, height: 260, seed: 5, density: 0.012 });
    const opts = { algorithm, ws: (h: number) => 0.07 * h + 3 };
    const whole = detectTrees(f.image, opts);
    const tiled = await detectTreesTiled(memorySource(f.image), { ...opts, tileSize: 64 }, () => undefined);
    assert.equal(tiled.trees.length, whole.trees.length);
    assert.deepEqual(tiled.trees, whole.trees);
    assert.deepEqual(tiled.crowns, whole.crowns);
  });
}

test('a window narrower than two pixels is refused: it would make every pixel above hmin a tree', () => {
  const f = syntheticForest({ width: 80, height: 80, res: 0.5, seed: 3, density: 0.01 });
  assert.throws(() => detectTrees(f.image, { ws: 0.9 }), /^InvalidInputError: "ws": the window is 0\.9 m across, less than two of the CHM's 0\.5 m pixels: .*use at least 1 m$/);
  // an expression: narrowest at hmin
  assert.throws(() => detectTrees(f.image, { ws: (h) => 0.05 * h + 0.8, hmin: 2 }), /the window is 0\.9 m across at height 2 m/);
  assert.throws(() => requiredHalo({ ws: 1.5 }, 1, 1), /less than two of the CHM's 1 m pixels/);
  // two pixels across reaches the four neighbours: accepted, and far fewer tops than pixels
  const r = detectTrees(f.image, { ws: 1 });
  assert.ok(r.trees.length > 0 && r.trees.length < (80 * 80) / 10, `${r.trees.length} tops`);
  assert.equal(requiredHalo({ ws: 2 }, 1, 1) > 0, true);
});

test('a window too wide for lmf names the height that made it, and says to clip outliers when no tree is that tall', () => {
  const chm = new Float32Array(20 * 20).fill(15);
  chm[210] = 1e30; // an undeclared fill value
  assert.throws(() => findTops(chm, 20, 20, { ws: (z) => 0.07 * z + 3, hmin: 2, shape: 'circular', resX: 0.5, resY: 0.5 }),
    /^InvalidInputError: a 7e\+28 m window \(ws at the CHM's highest value, 1e\+30 m: no tree is that tall, so clip the CHM's outliers first, e\.g\. gdal_calc\.py --calc="minimum\(A,130\)"\) spans more than 400 pixels of 0\.5 m: use a smaller ws$/);
  chm[210] = 120; // tall, but a tree could be: only the window is the problem
  assert.throws(() => findTops(chm, 20, 20, { ws: (z) => 2 * z, hmin: 2, shape: 'circular', resX: 0.5, resY: 0.5 }),
    { message: /^a 240 m window \(ws at the CHM's highest value, 120 m\) spans more than 400 pixels of 0\.5 m: use a smaller ws$/ });
  assert.throws(() => findTops(chm, 20, 20, { ws: 500, hmin: 2, shape: 'circular', resX: 0.5, resY: 0.5 }),
    { message: /^a 500 m window spans more than 400 pixels/ });
});
