import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerChannel } from './channel.ts';

const entry = new URL('./echo.fixture.ts', import.meta.url).href;
type Echo = WorkerChannel<{ value: number; fail?: boolean; exit?: boolean }, { doubled: number }>;
const start = (onExit?: () => void): Promise<Echo> => WorkerChannel.start(entry, {}, { what: 'echo worker', onExit });

test('requests are answered by id, errors come back as errors, and close waits for the thread', async () => {
  const ch = await start();
  const got = await Promise.all([1, 2, 3].map((value) => ch.request({ value })));
  assert.deepEqual(got.map((r) => r.doubled), [2, 4, 6]);
  await assert.rejects(ch.request({ value: 5, fail: true }), (e: Error) => e.name === 'RangeError' && e.message === 'no 5');
  assert.equal((await ch.request({ value: 7 })).doubled, 14, 'a failed request leaves the thread serving');
  assert.equal(ch.pendingCount, 0);
  await ch.close();
  assert.equal(ch.alive, false);
});

test('a thread that dies fails its pending requests and every later one at once', async () => {
  let exits = 0;
  const ch = await start(() => exits++);
  const pending = ch.request({ value: 1, exit: true });
  await assert.rejects(pending, /echo worker exited \(code 3\)/);
  assert.equal(ch.alive, false);
  assert.equal(exits, 1);
  await assert.rejects(ch.request({ value: 2 }), /exited/);
});
