import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { delineateWindow, resolveTreeOptions } from './detect.ts';
import { fromPackedBytes, packedBuffers, packedBytes, packedLayout, packTrees, treeCount, treeId, unpackAll, unpackCrown } from './packed.ts';
import { syntheticForest } from './synthetic.ts';
import { readTreesUnit, writeTreesUnit } from '../jobs/units.ts';

function detected() {
  const { image } = syntheticForest({ width: 200, height: 160, res: 0.5, seed: 9, density: 0.02 });
  return delineateWindow({
    chm: image.bands[0] as Float32Array, width: 200, height: 160, offsetX: 0, offsetY: 0,
    rasterWidth: 200, rasterHeight: 160, transform: image.grid.transform, core: { x0: 0, y0: 0, x1: 200, y1: 160 },
  }, resolveTreeOptions({ ws: 3, hmin: 2 }));
}

test('trees and crowns survive packing, bytes and a unit file exactly; a missing crown stays missing', () => {
  const { trees, crowns } = detected();
  assert.ok(trees.length > 10 && crowns.some((c) => c && c.length > 1), 'some crown has a hole: several rings per crown are exercised');
  const withGap = crowns.map((c, k) => (k === 3 ? null : c));
  const packed = packTrees(trees, withGap);
  assert.equal(treeCount(packed), trees.length);
  assert.deepEqual(trees.map((_, k) => treeId(packed, k)), trees.map((t) => t.id));
  assert.equal(unpackCrown(packed, 3), null);
  assert.deepEqual(unpackAll(packed), { trees, crowns: withGap });
  assert.equal(packedBuffers(packed).length, 4);

  // as bytes, as a unit file writes them (one buffer, the float64 arrays first)
  const parts = packedBytes(packed);
  const whole = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) { whole.set(p, at); at += p.byteLength; }
  assert.deepEqual(unpackAll(fromPackedBytes(whole, packedLayout(packed))), { trees, crowns: withGap });
  assert.throws(() => fromPackedBytes(whole.subarray(0, whole.length - 8), packedLayout(packed)), /do not hold/);
  assert.throws(() => fromPackedBytes(whole, { ...packedLayout(packed), rings: packedLayout(packed).rings + 1 }), /do not hold/);

  const dir = mkdtempSync(join(tmpdir(), 'fm-packed-'));
  try {
    const path = join(dir, 'unit.bin');
    writeTreesUnit(path, { trees: packed, from: 'tree-store' });
    const back = readTreesUnit(path);
    assert.equal(back.from, 'tree-store');
    assert.deepEqual(unpackAll(back.trees), { trees, crowns: withGap });
    writeTreesUnit(path, { trees: packTrees([], []) });
    assert.deepEqual(readTreesUnit(path), { trees: packTrees([], []) });
    // a file in another format (an older build's JSON output) is refused, not misread
    const json = readFileSync(path);
    writeFileSync(path, Buffer.concat([json.subarray(0, 4), Buffer.from(json.subarray(4).toString('latin1').replace('packed-trees-1', 'packed-trees-0'), 'latin1')]));
    assert.throws(() => readTreesUnit(path), /not a trees unit output/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
