import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DetectionPool } from './detect.pool.ts';
import { packTrees, unpackAll } from './packed.ts';
import { delineateWindow, resolveTreeOptions, type ChmWindow } from './detect.ts';
import { treeOptionsOf, type TreeOptionsSpec } from './service.ts';
import { syntheticForest } from './synthetic.ts';
import { InvalidInputError } from '../errors.ts';

const pool = new DetectionPool(2);
after(() => pool.close());

function windowOf(seed: number): ChmWindow {
  const { image } = syntheticForest({ width: 160, height: 140, res: 0.5, seed, density: 0.02 });
  return {
    chm: image.bands[0] as Float32Array, width: 160, height: 140, offsetX: 1000, offsetY: 2000,
    rasterWidth: 4000, rasterHeight: 4000, transform: image.grid.transform, core: { x0: 10, y0: 10, x1: 150, y1: 130 },
  };
}

test('detection on the pool equals detection on this thread, window for window, with many in flight', async () => {
  const spec: TreeOptionsSpec = { ws: '0.07*h+3', hmin: 2, algorithm: 'dalponte' };
  const windows = [1, 2, 3, 4, 5].map(windowOf);
  const want = windows.map((w) => delineateWindow({ ...w, chm: w.chm.slice() }, resolveTreeOptions(treeOptionsOf(spec))));
  const got = await Promise.all(windows.map((w) => pool.detect(w, spec)));
  for (let k = 0; k < windows.length; k++) {
    assert.ok(want[k].trees.length > 5);
    assert.deepEqual(got[k], packTrees(want[k].trees, want[k].crowns));
    assert.deepEqual(unpackAll(got[k]).trees, want[k].trees);
  }
});

test('a detection that fails rejects with its error, and the pool carries on', async () => {
  await assert.rejects(pool.detect(windowOf(1), { ws: 'h +* 2', hmin: 2, algorithm: 'dalponte' }), InvalidInputError);
  const again = await pool.detect(windowOf(2), { ws: 3, hmin: 2, algorithm: 'watershed' });
  assert.ok(unpackAll(again).trees.length > 5);
});

test('a view into a larger buffer is sent as its own copy; the caller keeps its heights', async () => {
  const w = windowOf(3);
  const big = new Float32Array(w.chm.length + 100);
  big.set(w.chm, 50);
  const view = big.subarray(50, 50 + w.chm.length);
  const got = await pool.detect({ ...w, chm: view }, { ws: 3, hmin: 2, algorithm: 'dalponte' });
  assert.equal(big.length, w.chm.length + 100, 'the larger buffer was not transferred away');
  assert.deepEqual(unpackAll(got).trees, delineateWindow(w, resolveTreeOptions({ ws: 3, hmin: 2, algorithm: 'dalponte' })).trees);
});

test('idle threads, started ahead or after a detection, do not keep the process alive', () => {
  const script = `
    import { detectionPool } from ${JSON.stringify(new URL('./detect.pool.ts', import.meta.url).href)};
    import { getInferenceRunner } from ${JSON.stringify(new URL('../chm/inference.runner.ts', import.meta.url).href)};
    import { resolveModel } from ${JSON.stringify(new URL('../model/registry.ts', import.meta.url).href)};
    await detectionPool().warm();
    await getInferenceRunner(await resolveModel('hrch-mini'));
    console.log('started');`;
  const dir = mkdtempSync(join(tmpdir(), 'detect-pool-'));
  writeFileSync(join(dir, 'idle.mts'), script);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir, 'idle.mts')], { encoding: 'utf8', timeout: 30_000 });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.signal, null, `the process did not exit by itself (${r.signal}): ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /started/);
});

test('closing an idle pool waits for its threads to end, and a later detection starts new ones', async () => {
  const own = new DetectionPool(1);
  await own.warm();
  if (existsSync('/proc/self/task')) assert.equal((await own.threadIds()).length, 1, 'a started thread names its task');
  await own.close();
  assert.deepEqual(await own.threadIds(), [], 'a closed pool has no threads');
  const again = await own.detect(windowOf(4), { ws: 3, hmin: 2, algorithm: 'dalponte' });
  assert.ok(unpackAll(again).trees.length > 5);
  await own.close();
});
