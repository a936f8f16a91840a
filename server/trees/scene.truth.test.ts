import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateScene } from '../scene/generate.ts';
import { openRaster } from '../raster/source.ts';
import { detectTrees } from './detect.ts';
import type { CrownAlgorithm } from './types.ts';

interface Truth { x: number; y: number; height_m: number; crown_radius_m: number }

/** Tops matched one-to-one to true apexes within the true crown radius; crown IoU against the true disc. */
function score(result: ReturnType<typeof detectTrees>, truth: Truth[]) {
  const { width: W, height: H, transform: t } = result.grid;
  const res = t[1];
  const used = new Uint8Array(result.trees.length);
  let tp = 0, iouSum = 0;
  for (const tr of [...truth].sort((a, b) => b.height_m - a.height_m)) {
    let bi = -1, bd = Infinity;
    result.trees.forEach((f, i) => {
      if (used[i]) return;
      const d = Math.hypot(f.x - tr.x, f.y - tr.y);
      if (d < bd) { bd = d; bi = i; }
    });
    if (bi < 0 || bd > tr.crown_radius_m) continue;
    used[bi] = 1; tp++;
    const cx = (tr.x - t[0]) / res - 0.5, cy = (t[3] - tr.y) / res - 0.5, r = tr.crown_radius_m / res;
    let inter = 0, disc = 0, ours = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
      const mine = result.labels[y * W + x] === bi + 1;
      if (inDisc) disc++; if (mine) ours++; if (inDisc && mine) inter++;
    }
    iouSum += inter / (ours + disc - inter);
  }
  return { recall: tp / truth.length, precision: tp / result.trees.length, iou: iouSum / Math.max(1, tp) };
}

test('against a generated scene\'s truth (server/scene): tops recall/precision within a crown radius, crown IoU', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'scene-truth-'));
  try {
    const s = await generateScene({ out: dir, width: 240, height: 240, gsd: 0.5, seed: 3, preset: 'conifer', crowns: false });
    const src = await openRaster(join(dir, s.files.chm));
    const chm = await src.readWindow({ x: 0, y: 0, width: 240, height: 240 }, { overview: 0, bands: [0] });
    const all = JSON.parse(await readFile(join(dir, s.files.trees), 'utf8')).features.map((f: { properties: Truth }) => f.properties) as Truth[];
    // trees whose apex lies inside the raster and at least 3 crown pixels from its edge
    const t = chm.grid.transform;
    const truth = all.filter((p) => p.height_m >= 2 && p.x > t[0] + 1.5 && p.x < t[0] + 118.5 && p.y < t[3] - 1.5 && p.y > t[3] - 118.5);
    assert.ok(truth.length > 30, `${truth.length} true trees`);
    for (const algorithm of ['dalponte', 'silva', 'watershed'] as CrownAlgorithm[]) {
      // a 3 m window: the conifer preset's crowns are narrow and close (lidR's 0.07h + 3 merges neighbours)
      const r = detectTrees(chm, { algorithm, ws: 3, polygons: false });
      const sc = score(r, truth);
      assert.ok(sc.recall > 0.8, `${algorithm} recall ${sc.recall.toFixed(3)}`);
      assert.ok(sc.precision > 0.85, `${algorithm} precision ${sc.precision.toFixed(3)}`);
      assert.ok(sc.iou > 0.5, `${algorithm} crown IoU ${sc.iou.toFixed(3)}`);
      console.log(`scene truth, ${algorithm}: recall ${sc.recall.toFixed(3)}, precision ${sc.precision.toFixed(3)}, crown IoU ${sc.iou.toFixed(3)} (${truth.length} trees)`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
