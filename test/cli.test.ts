import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

test('forestmap with an unknown command exits 2 and names the commands', () => {
  const r = spawnSync(process.execPath, ['bin/forestmap.js', 'no-such-command'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'no-such-command'/);
  assert.match(r.stderr, /serve/);
});
