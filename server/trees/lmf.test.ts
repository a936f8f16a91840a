import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findTops, type LmfParams } from './lmf.ts';

/** The rule findTops documents, pixel by pixel with no shortcuts: the reference its fast paths must equal. */
function bruteTops(chm: Float32Array, width: number, height: number, p: LmfParams): number[] {
  const radius = (h: number) => (typeof p.ws === 'number' ? p.ws : p.ws(h)) / 2 + 1e-9;
  const dist = (dx: number, dy: number) => (p.shape === 'circular' ? Math.hypot(dx * p.resX, dy * p.resY) : Math.max(Math.abs(dx * p.resX), Math.abs(dy * p.resY)));
  const inWindow = (i: number, f: (j: number, dx: number, dy: number) => boolean): boolean => {
    const x = i % width, y = (i / width) | 0, r = radius(chm[i]);
    const rx = Math.ceil(r / p.resX), ry = Math.ceil(r / p.resY);
    for (let dy = -ry; dy <= ry; dy++) {
      for (let dx = -rx; dx <= rx; dx++) {
        const xx = x + dx, yy = y + dy;
        if ((dx === 0 && dy === 0) || xx < 0 || yy < 0 || xx >= width || yy >= height || dist(dx, dy) > r) continue;
        if (f(yy * width + xx, dx, dy)) return true;
      }
    }
    return false;
  };
  const unbeaten = (i: number) => !inWindow(i, (j) => chm[j] > chm[i]);
  const tops: number[] = [];
  for (let i = 0; i < chm.length; i++) {
    if (!(chm[i] >= p.hmin) || !unbeaten(i)) continue;
    // ties: an earlier (row-major) equal-height pixel in the window that is itself unbeaten wins
    if (inWindow(i, (j, dx, dy) => (dy < 0 || (dy === 0 && dx < 0)) && chm[j] === chm[i] && unbeaten(j))) continue;
    tops.push(i);
  }
  return tops;
}

/** A rough canopy: smooth bumps plus noise quantised to 0.25 m, so plateaus and ties occur. */
function canopy(width: number, height: number, seed: number): Float32Array {
  let s = seed;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const chm = new Float32Array(width * height);
  const bumps = Array.from({ length: 12 }, () => [rand() * width, rand() * height, 3 + rand() * 30, 2 + rand() * 6]);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let h = 0;
      for (const [bx, by, bh, br] of bumps) h = Math.max(h, bh * Math.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * br * br)));
      chm[y * width + x] = Math.round((h + rand() * 1.5) * 4) / 4;
    }
  }
  for (let k = 0; k < 20; k++) chm[Math.floor(rand() * chm.length)] = NaN;
  return chm;
}

test('lmf equals the rule applied pixel by pixel: variable and fixed windows, square pixels and not, windows narrower than a pixel along one axis', () => {
  const cases: Array<Omit<LmfParams, 'hmin'>> = [
    { ws: (h) => 0.07 * h + 3, shape: 'circular', resX: 0.5, resY: 0.5 },
    { ws: (h) => 0.07 * h + 3, shape: 'square', resX: 0.5, resY: 0.5 },
    { ws: 2.5, shape: 'circular', resX: 1, resY: 1 },
    // the window reaches a neighbour along x (0.5 m) but not along y (2 m) at low heights
    { ws: (h) => 0.1 * h + 1.2, shape: 'circular', resX: 0.5, resY: 2 },
    { ws: 1.5, shape: 'square', resX: 1, resY: 0.6 },
  ];
  for (const [k, c] of cases.entries()) {
    for (const seed of [1, 2]) {
      const width = 47, height = 39;
      const chm = canopy(width, height, seed * 31 + k);
      const p: LmfParams = { ...c, hmin: 2 };
      assert.deepEqual(Array.from(findTops(chm, width, height, p)), bruteTops(chm, width, height, p), `case ${k}, seed ${seed}`);
    }
  }
});
