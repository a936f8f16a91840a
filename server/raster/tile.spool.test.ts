import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpoolBudget, TileSpool } from './tile.spool.ts';

const dir = mkdtempSync(join(tmpdir(), 'spool-test-'));

/** Parts of varied sizes (some over a slab) with a pattern that shows misplaced bytes. */
function parts(seed: number, sizes: number[]): Uint8Array[] {
  return sizes.map((n, k) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + k * 7 + seed) & 255));
}

async function contents(spool: TileSpool, name: string, at = 5): Promise<Buffer> {
  const path = join(dir, name);
  const out = await open(path, 'w');
  await out.write(Buffer.from('HEAD!'), 0, 5, 0);
  await spool.copyTo(out, at);
  await out.close();
  return readFileSync(path).subarray(at);
}

test('a spool gives back its bytes in order, from memory within the budget and from its file past it', async () => {
  const appends = [parts(1, [4, 3000, 9]), parts(2, [1_500_000, 4]), parts(3, [70_000]), parts(4, [4, 2_100_000, 4])];
  const expected = Buffer.concat(appends.flat());
  const total = expected.length;
  for (const [budgetBytes, spills] of [[total, false], [0, true], [1_600_000, true]] as const) {
    const budget = new SpoolBudget(budgetBytes);
    const path = join(dir, `spool-${budgetBytes}.bin`);
    const spool = new TileSpool(path, budget);
    for (const a of appends) await spool.append(a);
    assert.equal(spool.size, total);
    assert.equal(spool.spilled, spills, `budget ${budgetBytes}`);
    assert.equal(existsSync(path), spills);
    // what was held in memory goes back to the budget when the spool spills
    assert.equal(budget.left, spills ? budgetBytes : 0);
    assert.ok((await contents(spool, `out-${budgetBytes}.bin`)).equals(expected), `budget ${budgetBytes}: same bytes`);
    await spool.close();
  }
});

test('spools share their writer\'s budget: the one that finds it spent spills, the others stay in memory', async () => {
  const budget = new SpoolBudget(10_000);
  const a = new TileSpool(join(dir, 'a.bin'), budget), b = new TileSpool(join(dir, 'b.bin'), budget);
  await a.append(parts(5, [8000]));
  await b.append(parts(6, [3000]));
  await a.append(parts(7, [1000]));
  assert.deepEqual([a.spilled, b.spilled], [false, true]);
  assert.equal(budget.left, 1000);
  assert.ok((await contents(a, 'a.out')).equals(Buffer.concat([...parts(5, [8000]), ...parts(7, [1000])])));
  assert.ok((await contents(b, 'b.out')).equals(Buffer.concat(parts(6, [3000]))));
  await a.close();
  await b.close();
});
