import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDemoScene, registerDemo, runDemoStages, DEMO_IDS, type DemoParams } from './demo.ts';
import { Catalog } from './catalog/catalog.ts';
import type { AppContext } from './http/context.ts';
import { loadConfig } from './config.ts';

const small: DemoParams = { width: 300, height: 260, gsd: 0.5, seed: 99, preset: 'mixed' };

test('the demo scene is generated once, atomically, and reused until its parameters change', async () => {
  const varDir = mkdtempSync(join(tmpdir(), 'demo-test-'));
  const logs: string[] = [];
  const log = (m: string) => logs.push(m);
  // Two concurrent callers share one generation.
  const [a, b] = await Promise.all([ensureDemoScene(varDir, log, small), ensureDemoScene(varDir, log, small)]);
  assert.equal(a.dir, join(varDir, 'demo'));
  assert.equal(a, b);
  assert.equal(logs.filter((m) => m.startsWith('generating')).length, 1);
  assert.ok(logs.some((m) => m.startsWith('scene 100%')), 'progress is logged');
  for (const p of [a.imagePath, a.chmTruthPath, a.treesPath, a.crownsPath]) assert.ok(existsSync(p), p);
  assert.deepEqual(readdirSync(varDir), ['demo'], 'no temp folders left behind');
  assert.ok(a.summary.counts.trees > 0);

  const mtime = statSync(a.imagePath).mtimeMs;
  logs.length = 0;
  const again = await ensureDemoScene(varDir, log, small);
  assert.equal(statSync(again.imagePath).mtimeMs, mtime, 'cached scene reused');
  assert.equal(logs.length, 0);

  // A damaged cache (or another seed) is regenerated in place.
  writeFileSync(join(varDir, 'demo', 'scene.json'), '{ not json');
  const fresh = await ensureDemoScene(varDir, log, small);
  assert.equal(fresh.summary.seed, 99);
  assert.ok(logs.some((m) => m.startsWith('generating')));
  assert.deepEqual(readdirSync(varDir), ['demo']);
});

test('the demo registers in the catalog and runs its stages in order, a failure stopping the chain', async () => {
  const varDir = mkdtempSync(join(tmpdir(), 'demo-cat-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'demo-data-'));
  const demo = await ensureDemoScene(varDir, () => undefined, small);
  const catalog = await Catalog.open({ dataDir, varDir, maxUploadBytes: 1 << 20 });
  const ctx: AppContext = { config: { ...loadConfig({}), varDir, dataDir }, catalog } as AppContext;
  const entries = await registerDemo(ctx, demo);
  assert.equal(catalog.get(DEMO_IDS.image).role, 'image');
  assert.equal(catalog.get(DEMO_IDS.chmTruth).role, 'chm');
  assert.equal(entries.image.metadata.width, 300);

  const ran: string[] = [];
  const logs: string[] = [];
  await runDemoStages(ctx, demo, entries, (m) => logs.push(m), [
    { name: 'canopy', run: async (_c, d) => void ran.push(`canopy:${d.summary.seed}`) },
    { name: 'trees', run: async () => { throw new Error('no model'); } },
    { name: 'never', run: async () => void ran.push('never') },
  ]);
  assert.deepEqual(ran, ['canopy:99']);
  assert.ok(logs.includes('trees: failed: no model'));
});
