#!/usr/bin/env node
// `npm test`: type-check, the node:test suites (x.test.ts beside the code and in test/), then the
// Python model tooling tests when an interpreter with torch is present.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const roots = ['tiles', 'server', 'client/src', 'test', 'models'];
const skipDirs = new Set(['node_modules', 'dist', '__pycache__']);
function find(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (skipDirs.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const only = process.argv.slice(2);
const files = only.length ? only : roots.flatMap((r) => find(r, [])).sort();

function step(title, cmd, args, opts = {}) {
  process.stdout.write(`\n== ${title}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  return r.status ?? 1;
}

let failed = 0;
if (!only.length) failed |= step('typecheck', process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.']) ? 1 : 0;
failed |= step(`node:test (${files.length} files)`, process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files]) ? 1 : 0;

if (!only.length) {
  const python = process.env.FORESTMAP_PYTHON ?? '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import torch, onnx, numpy'], { stdio: 'ignore' });
  if (probe.status === 0) {
    failed |= step('python model tooling (unittest)', python, ['-m', 'unittest', 'discover', '-s', 'models', '-p', 'test_*.py', '-t', '.'], { env: { ...process.env, PYTHONPATH: '.' } }) ? 1 : 0;
  } else {
    process.stdout.write(`\n== python model tooling: SKIPPED (${python} lacks torch/onnx/numpy; .ci/run installs python3-torch python3-onnx)\n`);
  }
}
process.exit(failed);
