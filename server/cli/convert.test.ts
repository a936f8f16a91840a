import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadManifest } from '../model/manifest.ts';
import { getModelSession, releaseAllSessions } from '../model/session.ts';
import { REPO_MODELS_DIR } from '../model/registry.ts';
import { readNpy } from '../chm/npy.ts';

const FIX = join(REPO_MODELS_DIR, '../../shared/fixtures/hrch');
const python = process.env.FORESTMAP_PYTHON ?? '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch, onnx'], { stdio: 'ignore' }).status === 0;
const skip = !existsSync(FIX) ? `HRCH fixtures missing at ${FIX}` : !hasTorch ? `${python} lacks torch/onnx` : false;
const tmp = mkdtempSync(join(tmpdir(), 'fm-convert-'));
after(async () => {
  await releaseAllSessions();
  rmSync(tmp, { recursive: true, force: true });
});

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['bin/forestmap.js', ...args], { encoding: 'utf8', env: { ...process.env, FORESTMAP_MODELS: '' } });
}

test('forestmap convert: the compressed mini checkpoint -> a loadable model (ONNX external data, as for weights over 100 MB) that matches the dequantised reference', { skip }, async () => {
  const out = join(tmp, 'mini-compressed');
  const r = cli('convert', '--checkpoint', join(FIX, 'mini_compressed.pth'), '--out', out, '--heads', '4', '--taps', '0,1,2,3', '--test-fixture', '--threads', '2', '--external-data', 'yes');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /FORESTMAP_MODEL=.*mini-compressed npm start/);
  const m = await loadManifest(out);
  assert.equal(m.name, 'mini-compressed');
  assert.equal(m.provenance.checkpointLayout, 'compressed-qint8-dequantized');
  assert.match(m.provenance.checkpointSha256 ?? '', /^[0-9a-f]{64}$/);
  assert.equal(m.onnx.externalData, 'model.onnx.data');
  assert.ok(existsSync(join(out, 'model.onnx.data')));
  const x = readNpy(join(FIX, 'mini_input_256.npy'));
  const ref = readNpy(join(FIX, 'mini_compressed_output_256_dequantized_float.npy'));
  const y = await (await getModelSession(m)).run(x.data as Float32Array, 1, 256, 256);
  let d = 0;
  for (let i = 0; i < y.length; i++) d = Math.max(d, Math.abs(y[i] - ref.data[i]));
  assert.ok(d <= 5e-3, `max |diff| ${d} m`);
});

test('forestmap convert: clear failures for a non-checkpoint, missing heads, and missing flags', { skip }, () => {
  const junk = join(tmp, 'junk.pth');
  writeFileSync(junk, 'not a checkpoint');
  const bad = cli('convert', '--checkpoint', junk, '--out', join(tmp, 'x'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /cannot be read as a PyTorch checkpoint/);
  const noHeads = cli('convert', '--checkpoint', join(FIX, 'mini_checkpoint.pth'), '--out', join(tmp, 'y'));
  assert.equal(noHeads.status, 1);
  assert.match(noHeads.stderr, /cannot infer the attention heads count for width 64; pass --heads/);
  const noFlag = cli('convert', '--out', join(tmp, 'z'));
  assert.equal(noFlag.status, 2);
  assert.match(noFlag.stderr, /--checkpoint is required/);
});

test('forestmap models lists hrch-mini as a test fixture and no default', () => {
  const r = cli('models');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /hrch-mini\s+1\s+hrch-dpt\s+0\.6\s+256\/192\s+Apache-2\.0\s+TEST FIXTURE/);
  assert.doesNotMatch(r.stdout, /^\*\s+hrch-mini/m);
  const json = JSON.parse(cli('models', '--json').stdout);
  assert.ok(json.models.some((m: { name: string }) => m.name === 'hrch-mini'));
});
