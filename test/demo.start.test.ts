/**
 * The newcomer's path: `forestmap serve` with no DATA_DIR generates the demo scene, computes its
 * canopy height with the default model, finds its trees, and serves all of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lonLatToMercator, tileAt } from '../tiles/tile.matrix.set.ts';

const STAGES_DONE = /\[demo\] trees: done/;
const FAILED = /\[demo\] .*failed/;

test('serve without DATA_DIR runs the demo end to end: scene, canopy height, trees', { timeout: 300_000 }, async () => {
  const varDir = mkdtempSync(join(tmpdir(), 'fm-demo-'));
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1', VAR_DIR: varDir };
  delete env.DATA_DIR;
  delete env.DEMO;
  const child = spawn(process.execPath, ['bin/forestmap.js', 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  try {
    const base = await new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        const m = /serving (http:\/\/[\d.]+:\d+)/.exec(log);
        if (m && STAGES_DONE.test(log)) resolve(m[1]);
        if (FAILED.test(log)) reject(new Error(`a demo stage failed:\n${log}`));
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`server exited ${code}:\n${log}`)));
    });
    const { rasters } = (await (await fetch(`${base}/api/rasters`)).json()) as { rasters: Array<{ id: string; role: string }> };
    const roles = Object.fromEntries(rasters.map((r) => [r.id, r.role]));
    assert.equal(roles.demo, 'image');
    assert.equal(roles['demo-chm-truth'], 'chm');
    assert.equal(roles['demo-chm'], 'chm', 'the predicted CHM is registered');

    const { wgs84Bounds: bbox } = (await (await fetch(`${base}/api/rasters/demo`)).json()) as { wgs84Bounds: number[] };
    assert.equal(bbox.length, 4);
    const trees = await fetch(`${base}/api/rasters/demo/trees?bbox=${bbox.join(',')}&limit=5000`);
    assert.equal(trees.status, 200);
    const fc = (await trees.json()) as { features: Array<{ properties: { height_m: number } }> };
    assert.ok(fc.features.length > 100, `trees found in the predicted CHM: ${fc.features.length}`);
    assert.ok(fc.features.every((f) => f.properties.height_m >= 2), 'every tree is at least hmin tall');
    const { z, x, y } = tileAt(...lonLatToMercator((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2), 15);
    const tile = await fetch(`${base}/tiles/demo/${z}/${x}/${y}.png`);
    assert.equal(tile.status, 200, `the demo imagery renders: ${tile.url} ${await tile.text()}`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(varDir, { recursive: true, force: true });
  }
});
