import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheVersion, loadManifest, validateManifest, toMetres, type ModelManifest } from './manifest.ts';
import { REPO_MODELS_DIR } from './registry.ts';
import { InvalidInputError, NotFoundError } from '../errors.ts';

const MINI = join(REPO_MODELS_DIR, 'hrch-mini');
const miniJson = (): ModelManifest => JSON.parse(readFileSync(join(MINI, 'manifest.json'), 'utf8'));

test('the committed hrch-mini manifest validates and is flagged as a random-weight fixture', async () => {
  const m = await loadManifest(MINI);
  assert.equal(m.name, 'hrch-mini');
  assert.equal(m.architecture, 'hrch-dpt');
  assert.equal(m.testFixture, true);
  assert.match(m.description ?? '', /RANDOM WEIGHTS/);
  assert.equal(m.onnxPath, join(MINI, 'model.onnx'));
  assert.deepEqual(m.input.mean, [0.42, 0.411, 0.296]);
  assert.deepEqual([m.tiling.tileSize, m.tiling.stride, m.tiling.window], [256, 192, 'apodization']);
});

test('invalid manifests are rejected naming every problem', () => {
  const m = miniJson() as unknown as Record<string, any>;
  delete m.license;
  m.input.mean = [0.4, 0.4];
  m.tiling.window = 'triangle';
  m.output.units = 'ft';
  m.tiling.batch = 0;
  assert.throws(() => validateManifest(m, 'x.json'), (err: unknown) => {
    assert.ok(err instanceof InvalidInputError);
    assert.match(err.message, /x\.json is not a valid model manifest/);
    assert.match(err.message, /license/);
    assert.match(err.message, /\/input\/mean/);
    assert.match(err.message, /\/tiling\/window .*apodization/);
    assert.match(err.message, /\/output\/units/);
    assert.match(err.message, /\/tiling\/batch must be >= 1/);
    return true;
  });
});

test('a stride larger than the tile (gaps) and decreasing percentiles are rejected', () => {
  const m = miniJson();
  m.tiling.stride = 300;
  assert.throws(() => validateManifest(m), /stride \(300\) exceeds/);
  const p = miniJson();
  p.input.percentileMatch = { percentiles: [95, 5], target: [[0.1, 0.1, 0.1], [0.5, 0.5, 0.5]] };
  assert.throws(() => validateManifest(p), /increasing/);
});

test('loadManifest: missing manifest, bad JSON, missing ONNX file and missing external data are clear errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fm-manifest-'));
  try {
    await assert.rejects(loadManifest(dir), (e: unknown) => e instanceof NotFoundError && /no model manifest/.test(e.message));
    writeFileSync(join(dir, 'manifest.json'), '{ nope');
    await assert.rejects(loadManifest(dir), /is not JSON/);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(miniJson()));
    await assert.rejects(loadManifest(dir), /ONNX file .*model\.onnx.* does not exist/);
    copyFileSync(join(MINI, 'model.onnx'), join(dir, 'model.onnx'));
    const m = miniJson();
    m.onnx.externalData = 'model.onnx.data';
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    await assert.rejects(loadManifest(dir), /external data file .* is missing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('toMetres applies scale, offset and relu', () => {
  const out = { units: 'm' as const, scale: 10, offset: 0.001, relu: true, bakedIn: false };
  assert.equal(toMetres(-3, out), 0);
  assert.ok(Math.abs(toMetres(2, out) - 20.001) < 1e-12);
  assert.ok(Number.isNaN(toMetres(NaN, out)));
});

test('cacheVersion: the manifest version plus the graph digest, so new weights never match old cached results', () => {
  const onnx = { file: 'model.onnx', inputName: 'x', outputName: 'y', opset: 17 };
  assert.equal(cacheVersion({ version: '1', onnx }), '1');
  const a = cacheVersion({ version: '1', onnx: { ...onnx, sha256: 'ab'.repeat(32) } });
  const b = cacheVersion({ version: '1', onnx: { ...onnx, sha256: 'cd'.repeat(32) } });
  assert.equal(a, '1+onnx.abababababab');
  assert.notEqual(a, b);
});
