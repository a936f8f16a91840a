import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NODE_FLAGS } from './node.flags.ts';

const root = new URL('../', import.meta.url);

test('the forestmap command and npm start run node with NODE_FLAGS', () => {
  const shebang = readFileSync(new URL('bin/forestmap.js', root), 'utf8').split('\n')[0];
  assert.equal(shebang, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
  const start = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')).scripts.start as string;
  assert.equal(start, `node ${NODE_FLAGS.join(' ')} bin/forestmap.js serve`);
});

test('node accepts NODE_FLAGS', async () => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, [...NODE_FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'no warning about the flags');
});
