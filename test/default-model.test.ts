// The shipped default model (models/forestmap-vit, issue 6) runs through the product's own model
// session and sees forest: on a synthetic scene with exact truth it must predict clearly taller
// canopy where the true canopy is tall than on open ground. Honest: a model that learned nothing
// (or a broken export / wrong normalisation) fails it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifest } from '../server/model/manifest.ts';
import { defaultModel } from '../server/model/registry.ts';
import { getModelSession, releaseAllSessions } from '../server/model/session.ts';
import { normaliseTile } from '../server/model/preprocess.ts';
import { openRaster } from '../server/raster/source.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const modelDir = join(root, 'models', 'forestmap-vit');
const ready = existsSync(join(modelDir, 'manifest.json'));

test('forestmap-vit is the registry default model', { skip: ready ? false : 'models/forestmap-vit not exported yet' }, async () => {
  const m = await defaultModel({ env: {} });
  assert.equal(m.name, 'forestmap-vit');
  assert.equal(m.input.gsd, 0.5);
  assert.ok((m.onnx.bytes ?? 0) <= 40 * 1024 * 1024, 'the shipped ONNX stays under 40 MB');
});

test('forestmap-vit predicts taller canopy over forest than over open ground on a synthetic scene', { skip: ready ? false : 'models/forestmap-vit not exported yet', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fvit-'));
  try {
    // A seed outside the training (1..8) and evaluation (101..103) scenes.
    const r = spawnSync(process.execPath, [join(root, 'bin', 'forestmap.js'), 'scene', '--out', dir, '--width', '512', '--height', '512', '--gsd', '0.5', '--seed', '977'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `forestmap scene failed: ${r.stderr}`);
    const manifest = await loadManifest(modelDir);
    const session = await getModelSession(manifest);
    const image = await openRaster(join(dir, 'image.tif'));
    const chm = await openRaster(join(dir, 'chm.tif'));
    const TILE = manifest.input.tileSize;
    let tallSum = 0, tallN = 0, openSum = 0, openN = 0;
    const origins: number[] = [];
    for (let o = 0; o + TILE <= 512; o += TILE) origins.push(o);
    for (const [x, y] of origins.flatMap((ox) => origins.map((oy) => [ox, oy]))) {
      const win = { x, y, width: TILE, height: TILE };
      const rgb = await image.readWindow(win, { overview: 0, bands: [0, 1, 2] });
      const truth = (await chm.readWindow(win, { overview: 0, bands: [0] })).bands[0];
      const pred = await session.run(normaliseTile(rgb.bands, manifest.input), 1, TILE, TILE);
      // Skip an 8 px margin: tile edges have the least context.
      for (let row = 8; row < TILE - 8; row++) {
        for (let col = 8; col < TILE - 8; col++) {
          const i = row * TILE + col;
          if (truth[i] >= 10) { tallSum += pred[i]; tallN++; }
          else if (truth[i] <= 0.5) { openSum += pred[i]; openN++; }
        }
      }
    }
    await image.close();
    await chm.close();
    assert.ok(tallN > 1000 && openN > 1000, `scene has both forest (${tallN} px) and open ground (${openN} px)`);
    const tall = tallSum / tallN;
    const open = openSum / openN;
    // 1 m: clearly above tile-to-tile noise; the CPU-trained model shipped now separates them by about 2.6 m on this scene.
    assert.ok(tall > open + 1, `mean prediction over forest ${tall.toFixed(2)} m vs open ground ${open.toFixed(2)} m`);
  } finally {
    await releaseAllSessions();
    rmSync(dir, { recursive: true, force: true });
  }
});
