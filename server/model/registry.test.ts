import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listModels, resolveModel, scanModels, REPO_MODELS_DIR } from './registry.ts';

const MINI = join(REPO_MODELS_DIR, 'hrch-mini');
let root: string;

/** A copy of hrch-mini under another name, optionally marked default or not a fixture. */
function fakeModel(dir: string, name: string, extra: Record<string, unknown> = {}) {
  mkdirSync(dir, { recursive: true });
  const m = JSON.parse(readFileSync(join(MINI, 'manifest.json'), 'utf8'));
  delete m.testFixture;
  Object.assign(m, { name, ...extra });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  copyFileSync(join(MINI, 'model.onnx'), join(dir, 'model.onnx'));
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'fm-registry-'));
  fakeModel(join(root, 'outside', 'big-a'), 'big-a', { default: true });
  fakeModel(join(root, 'outside', 'big-b'), 'big-b');
  fakeModel(join(root, 'single'), 'single');
  mkdirSync(join(root, 'outside', 'broken'));
  writeFileSync(join(root, 'outside', 'broken', 'manifest.json'), '{"name": "broken"}');
  mkdirSync(join(root, 'emptyrepo'));
  fakeModel(join(root, 'fixtureonly', 'mini'), 'mini', { testFixture: true, default: true });
});
after(() => rmSync(root, { recursive: true, force: true }));

const env = () => ({ FORESTMAP_MODELS: `${join(root, 'outside')}:${join(root, 'single')}:${join(root, 'absent')}` });

test('lists the repository models plus FORESTMAP_MODELS folders and single model dirs; reports broken ones', async () => {
  const names = (await listModels({ env: env() })).map((m) => m.name);
  assert.ok(names.includes('hrch-mini'));
  for (const n of ['big-a', 'big-b', 'single']) assert.ok(names.includes(n), n);
  const { broken } = await scanModels({ env: env() });
  assert.equal(broken.length, 1);
  assert.match(broken[0].error, /not a valid model manifest/);
});

test('resolves by name, by directory and by .onnx path', async () => {
  assert.equal((await resolveModel('big-b', { env: env() })).name, 'big-b');
  assert.equal((await resolveModel(join(root, 'single'), { env: {} })).name, 'single');
  assert.equal((await resolveModel(join(root, 'single', 'model.onnx'), { env: {} })).name, 'single');
  await assert.rejects(resolveModel('nope', { env: env() }), /unknown model 'nope'. Available: .*big-a.*1 model directory is broken/);
  await assert.rejects(resolveModel(join(root, 'absent'), { env: {} }), /neither a model directory nor an \.onnx file/);
});

test('default: FORESTMAP_MODEL, else the manifest marked default; a test fixture never is', async () => {
  // A repository folder holding only a fixture (even one wrongly marked default).
  const repoModelsDir = join(root, 'fixtureonly');
  assert.equal((await resolveModel(undefined, { env: env(), repoModelsDir })).name, 'big-a');
  assert.equal((await resolveModel(undefined, { env: { ...env(), FORESTMAP_MODEL: 'big-b' }, repoModelsDir })).name, 'big-b');
  assert.equal((await resolveModel(undefined, { env: { FORESTMAP_MODEL: join(root, 'single') }, repoModelsDir })).name, 'single');
  await assert.rejects(resolveModel(undefined, { env: {}, repoModelsDir }), /no canopy height model is installed.*FORESTMAP_MODEL/);
  // Real models but none marked: the error lists them.
  await assert.rejects(resolveModel(undefined, { env: { FORESTMAP_MODELS: join(root, 'single') }, repoModelsDir }), /set FORESTMAP_MODEL to one of single/);
});

test('two manifests marked default is an error naming both', async () => {
  fakeModel(join(root, 'second', 'big-c'), 'big-c', { default: true });
  await assert.rejects(resolveModel(undefined, { env: { FORESTMAP_MODELS: `${join(root, 'outside')}:${join(root, 'second')}` }, repoModelsDir: join(root, 'emptyrepo') }), /several models are marked "default": big-a .*big-c/);
});

test('a repository models folder without models lists nothing', async () => {
  assert.deepEqual(await listModels({ env: {}, repoModelsDir: join(root, 'emptyrepo') }), []);
});
