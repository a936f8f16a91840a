import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TreeStore, TreeStoreWriter } from './store.ts';
import { detectTrees } from './detect.ts';
import { syntheticForest, rng } from './synthetic.ts';
import { TreeFeatures } from '../features/geojson.ts';

test('store: a bbox query returns exactly the trees whose crown boxes meet it, tallest first under a limit', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tree-store-'));
  try {
    const f = syntheticForest({ width: 200, height: 150, seed: 3 });
    const r = detectTrees(f.image, { algorithm: 'dalponte', ws: (h) => 0.07 * h + 3 });
    const writer = await TreeStoreWriter.create(join(dir, 'v1'), f.image.grid.crs);
    // added in two batches, as tiles arrive
    const half = r.trees.length >> 1;
    await writer.add(r.trees.slice(0, half), r.crowns.slice(0, half));
    await writer.add(r.trees.slice(half), r.crowns.slice(half));
    const meta = await writer.finish({ test: true });
    assert.equal(meta.count, r.trees.length);
    const store = await TreeStore.open(join(dir, 'v1'));

    // brute-force reference: every tree's WGS84 crown box (its top point when it has no crown)
    const features = new TreeFeatures(f.image.grid.crs);
    const boxes = r.trees.map((t, k) => {
      const feat = features.crown(t, r.crowns[k]) ?? features.point(t);
      const pts: number[][] = feat.geometry.type === 'Point' ? [feat.geometry.coordinates] : feat.geometry.coordinates[0];
      return [Math.min(...pts.map((p) => p[0])), Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[1]))];
    });
    const [x0, y0, x1, y1] = meta.bbox!;
    const rand = rng(5);
    for (let q = 0; q < 30; q++) {
      const ax = x0 + (x1 - x0) * rand(), bx = ax + (x1 - x0) * 0.2 * rand();
      const ay = y0 + (y1 - y0) * rand(), by = ay + (y1 - y0) * 0.2 * rand();
      const expected = r.trees.filter((_, k) => boxes[k][0] <= bx && boxes[k][2] >= ax && boxes[k][1] <= by && boxes[k][3] >= ay).map((t) => t.id).sort((a, b) => a - b);
      const got = await store.query({ bbox: [ax, ay, bx, by], limit: 100000 });
      assert.deepEqual(got.features.map((g) => g.id).sort((a, b) => a - b), expected);
      assert.equal(got.matched, expected.length);
    }
    const limited = await store.query({ bbox: [x0, y0, x1, y1], limit: 5 });
    assert.equal(limited.matched, r.trees.length);
    const tallest = [...r.trees].sort((a, b) => b.height - a.height).slice(0, 5).map((t) => t.id).sort((a, b) => a - b);
    assert.deepEqual(limited.features.map((g) => g.id).sort((a, b) => a - b), tallest);
    // crowns come back as stored
    const one = (await store.query({ bbox: [x0, y0, x1, y1], limit: 100000 })).features.find((g) => g.id === r.trees[3].id)!;
    assert.deepEqual(one.geometry, features.crown(r.trees[3], r.crowns[3])!.geometry);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('store: an empty store answers with no trees', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tree-store-'));
  try {
    const f = syntheticForest({ width: 20, height: 20, seed: 1, density: 0 });
    const w = await TreeStoreWriter.create(join(dir, 'e'), f.image.grid.crs);
    await w.finish({});
    const store = await TreeStore.open(join(dir, 'e'));
    assert.equal(store.count, 0);
    assert.deepEqual((await store.query({ bbox: [-180, -90, 180, 90], limit: 10 })).features, []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
