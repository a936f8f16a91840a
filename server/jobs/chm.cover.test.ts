import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Window } from '../raster/types.ts';
import { chmCover, unionArea, type LatticeTile } from './chm.cover.ts';

const T = 10, H = 3, SIZE = 200;

/** Tiles of lattice cells (tx, ty), reading their cell plus a halo, clipped to a SIZE² grid. */
function tilesAt(cells: Array<[number, number]>): LatticeTile[] {
  return cells.map(([tx, ty]) => {
    const x0 = Math.max(0, tx * T - H), y0 = Math.max(0, ty * T - H);
    const x1 = Math.min(SIZE, (tx + 1) * T + H), y1 = Math.min(SIZE, (ty + 1) * T + H);
    return { tx, ty, read: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } };
  });
}

/** How many of `ws` cover each pixel of the grid. */
function coverCount(ws: readonly Window[]): Uint8Array {
  const n = new Uint8Array(SIZE * SIZE);
  for (const w of ws) for (let y = w.y; y < w.y + w.height; y++) for (let x = w.x; x < w.x + w.width; x++) n[y * SIZE + x]++;
  return n;
}

/** Every pixel a tile reads is covered exactly once; returns the pixels covered though no tile reads them. */
function checkCover(tiles: LatticeTile[], cover: Window[]): number {
  const reads = coverCount(tiles.map((t) => t.read)), got = coverCount(cover);
  let extra = 0;
  for (let i = 0; i < reads.length; i++) {
    if (reads[i] > 0) assert.equal(got[i], 1, `pixel ${i % SIZE},${Math.floor(i / SIZE)} covered ${got[i]} times`);
    else if (got[i] > 0) { assert.equal(got[i], 1); extra++; }
  }
  return extra;
}

test('a compact block of tiles is covered by its bounding box', () => {
  const tiles = tilesAt([[2, 2], [3, 2], [4, 2], [2, 3], [3, 3], [4, 3], [3, 4]]);
  const cover = chmCover(tiles);
  assert.deepEqual(cover, [{ x: 17, y: 17, width: 36, height: 36 }]);
  assert.ok(checkCover(tiles, cover) > 0, 'the two empty corners of the box are computed too');
});

test('groups of tiles far apart are covered separately, not by the box around them all', () => {
  const tiles = tilesAt([[0, 0], [1, 0], [15, 16], [16, 16], [16, 17]]);
  const cover = chmCover(tiles);
  assert.deepEqual(cover, [{ x: 0, y: 0, width: 23, height: 13 }, { x: 147, y: 157, width: 26, height: 26 }]);
  checkCover(tiles, cover);
});

test('a thin diagonal run of tiles is cut into rectangles that cover exactly what the tiles read', () => {
  const cells: Array<[number, number]> = [];
  for (let k = 1; k < 18; k++) cells.push([k, k]);
  const tiles = tilesAt(cells);
  const cover = chmCover(tiles);
  assert.equal(checkCover(tiles, cover), 0);
  const area = cover.reduce((s, w) => s + w.width * w.height, 0);
  assert.equal(area, unionArea(tiles.map((t) => t.read)));
  // the box would have been 186² pixels for the run's 17 tiles of 16² each, less their overlaps
  assert.equal(area, 17 * 16 * 16 - 16 * 6 * 6);
  // in order of their rows
  for (let i = 1; i < cover.length; i++) assert.ok(cover[i - 1].y < cover[i].y || (cover[i - 1].y === cover[i].y && cover[i - 1].x < cover[i].x));
});

test('an L of tiles is one box while the box wastes less than the limit, rectangles beyond it', () => {
  const tiles = tilesAt([[0, 0], [0, 1], [0, 2], [1, 2], [2, 2]]);
  const reads = tiles.map((t) => t.read);
  const box = 33 * 33, union = unionArea(reads);
  assert.ok(box < 2 * union);
  assert.equal(chmCover(tiles).length, 1);
  const tight = chmCover(tiles, box / union - 0.01);
  assert.ok(tight.length > 1);
  assert.equal(checkCover(tiles, tight), 0);
});

test('no tiles, no cover', () => {
  assert.deepEqual(chmCover([]), []);
  assert.equal(unionArea([]), 0);
});
