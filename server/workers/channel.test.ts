import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { getPriority } from 'node:os';
import { WorkerChannel } from './channel.ts';
import { threadCpuByGroup, threadCpuSeconds } from './thread.cpu.ts';

const entry = new URL('./echo.fixture.ts', import.meta.url).href;
type Echo = WorkerChannel<{ value: number; fail?: boolean; exit?: boolean; priority?: boolean; spinMs?: number }, { doubled: number; nice?: number }>;
const start = (onExit?: () => void, lowerPriority?: number): Promise<Echo> => WorkerChannel.start(entry, {}, { what: 'echo worker', onExit, lowerPriority });

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

test('lowerPriority lowers the worker thread alone, not the process', { skip: existsSync('/proc/thread-self') ? false : 'needs Linux (/proc/thread-self names a thread)' }, async () => {
  const base = getPriority(process.pid);
  const plain = await start(), lowered = await start(undefined, 3);
  try {
    assert.equal((await plain.request({ value: 1, priority: true })).nice, base);
    assert.equal((await lowered.request({ value: 1, priority: true })).nice, Math.min(19, base + 3));
    assert.equal(getPriority(process.pid), base, 'the main thread keeps its priority');
  } finally {
    await Promise.all([plain.close(), lowered.close()]);
  }
});

test('a thread reports its task id, under which its CPU time is counted apart from the main thread\'s', { skip: existsSync('/proc/self/task') ? false : 'needs Linux (/proc/self/task)' }, async () => {
  const busy = await start(), idle = await start();
  try {
    assert.ok(busy.taskId !== null && idle.taskId !== null && busy.taskId !== idle.taskId && busy.taskId !== process.pid);
    const before = threadCpuSeconds()!;
    assert.ok(before.has(busy.taskId!) && before.has(process.pid));
    await busy.request({ value: 1, spinMs: 300 });
    const cpu = threadCpuByGroup(before, threadCpuSeconds()!, { busy: [busy.taskId!], idle: [idle.taskId!] });
    // the worker spun for 300 ms of wall time on a core of its own (less if the machine is shared)
    assert.ok(cpu.busy > 0.1, `the spinning thread used ${cpu.busy} s`);
    assert.ok(cpu.idle < 0.05, `the idle thread used ${cpu.idle} s`);
    assert.ok(cpu.main < cpu.busy, `the waiting main thread used ${cpu.main} s, the spinning one ${cpu.busy} s`);
  } finally {
    await Promise.all([busy.close(), idle.close()]);
  }
});
