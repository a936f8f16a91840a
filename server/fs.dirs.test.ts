import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirectory } from './fs.dirs.ts';

test('makeDirectory creates missing parents, accepts an existing folder, refuses a file in the way', () => {
  const root = mkdtempSync(join(tmpdir(), 'fm-dirs-'));
  try {
    makeDirectory(join(root, 'a', 'b', 'c'));
    assert.ok(statSync(join(root, 'a', 'b', 'c')).isDirectory());
    makeDirectory(join(root, 'a', 'b'));
    writeFileSync(join(root, 'file'), 'x');
    assert.throws(() => makeDirectory(join(root, 'file')), { code: 'EEXIST' });
    assert.throws(() => makeDirectory(join(root, 'file', 'sub')), { code: 'ENOTDIR' });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// Node 20's mkdirSync(path, { recursive: true }) never returns for this path
test('a folder under /proc fails at once instead of hanging', { skip: existsSync('/proc/self') ? false : 'no /proc on this system' }, () => {
  assert.throws(() => makeDirectory('/proc/forestmap-no-such/out'), { code: 'ENOENT' });
});
