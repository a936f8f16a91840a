import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { openRaster } from '../raster/source.ts';
import { detectTrees } from './detect.ts';
import { detectTreesTiled } from './tiled.ts';
import type { CrownAlgorithm } from './types.ts';

const tile = '../shared/data/neon/NEON_D03_OSBS_DP3_399000_3284000_CHM.tif';
const skip = existsSync(tile) ? false : `${tile} not found (../shared/data missing); the synthetic tiling tests in trees.test.ts still run`;

// The 1 km NEON tile is strip-organised, has out-of-order TIFF tags and nodata -9999.
for (const algorithm of ['dalponte', 'silva'] as CrownAlgorithm[]) {
  test(`NEON 1 km CHM, ${algorithm}: tiled with halos equals the whole raster, tree for tree and crown for crown`, { skip }, async () => {
    const source = await openRaster(tile);
    assert.equal(source.grid.width, 1000);
    const image = await source.readWindow({ x: 0, y: 0, width: 1000, height: 1000 }, { overview: 0, bands: [0] });
    assert.ok(image.mask, 'nodata -9999 is masked');
    const opts = { algorithm, ws: (h: number) => 0.07 * h + 3 };
    const whole = detectTrees(image, opts);
    assert.ok(whole.trees.length > 10000, `${whole.trees.length} trees`);
    const tiled = await detectTreesTiled(source, { ...opts, tileSize: 200 });
    assert.equal(tiled.trees.length, whole.trees.length);
    assert.ok(isDeepStrictEqual(tiled.trees, whole.trees), 'same trees');
    const differing = whole.crowns.filter((c, k) => !isDeepStrictEqual(c, tiled.crowns[k])).length;
    assert.equal(differing, 0, `${differing} crowns differ`);
  });
}
