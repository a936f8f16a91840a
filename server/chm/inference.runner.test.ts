import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifest, type LoadedManifest } from '../model/manifest.ts';
import { getModelSession, releaseAllSessions } from '../model/session.ts';
import { threadCpuSeconds } from '../workers/thread.cpu.ts';
import { getInferenceRunner, LARGE_MODEL_BYTES, releaseInferenceRunners, runnerLayout } from './inference.runner.ts';

const miniDir = fileURLToPath(new URL('../../models/hrch-mini', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'runner-'));
after(async () => {
  await releaseInferenceRunners();
  await releaseAllSessions();
  rmSync(dir, { recursive: true, force: true });
});

test('small models run one single-threaded session per core; large ones one session on every core', async () => {
  const mini = await loadManifest(miniDir);
  assert.deepEqual(runnerLayout(mini, 2, {}), { sessions: 2, threads: 1 });
  assert.deepEqual(runnerLayout(mini, 8, {}), { sessions: 8, threads: 1 });
  assert.deepEqual(runnerLayout(mini, 1, {}), { sessions: 1, threads: 1 });
  assert.deepEqual(runnerLayout(mini, 8, { FORESTMAP_INFERENCE_SESSIONS: '2' }), { sessions: 2, threads: 4 });
  assert.deepEqual(runnerLayout(mini, 8, { FORESTMAP_INFERENCE_SESSIONS: 'lots' }), { sessions: 8, threads: 1 }, 'a bad override is ignored');
  // a graph whose external weights are large (a sparse file: only its size is read)
  const big = join(dir, 'weights.data');
  writeFileSync(big, '');
  truncateSync(big, LARGE_MODEL_BYTES + 1);
  const large: LoadedManifest = { ...mini, dir, onnx: { ...mini.onnx, externalData: 'weights.data' } };
  assert.deepEqual(runnerLayout(large, 8, {}), { sessions: 1, threads: 8 });
});

test('the pooled runner spreads batches over its sessions and answers each with its own result', async () => {
  const mini = await loadManifest(miniDir);
  const runner = await getInferenceRunner(mini);
  const T = 64, n = 3 * T * T;
  const inputs = Array.from({ length: 6 }, (_, k) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.01 + k)));
  const session = await getModelSession(mini, 1);
  const want = await Promise.all(inputs.map((x) => session.run(x.slice(), 1, T, T)));
  // all in flight at once: the runner's sessions compute them concurrently, replies stay matched
  const got = await Promise.all(inputs.map((x) => runner.run(x.slice(), 1, T, T)));
  for (let k = 0; k < inputs.length; k++) {
    let max = 0;
    for (let i = 0; i < T * T; i++) max = Math.max(max, Math.abs(got[k][i] - want[k][i]));
    assert.ok(max < 1e-4, `batch ${k}: max |diff| ${max} m`);
  }
  assert.ok(runner.computeMs > 0);
  if (existsSync('/proc/self/task')) {
    // one thread per session, each a thread of this process, none the main thread
    const ids = runner.threadIds!();
    assert.equal(new Set(ids).size, runnerLayout(mini).sessions);
    assert.ok(ids.every((id) => id !== process.pid && threadCpuSeconds()!.has(id)));
  }

  // the same through the runner's shared input buffers: held while in flight, reused after
  const shared = inputs.map((x) => {
    const b = runner.inputBuffer!(n);
    b.set(x);
    return b;
  });
  assert.ok(shared.every((b) => b.buffer instanceof SharedArrayBuffer));
  assert.equal(new Set(shared.map((b) => b.buffer)).size, shared.length, 'a buffer in use is not handed out twice');
  const viaShared = await Promise.all(shared.map((b) => runner.run(b, 1, T, T)));
  for (let k = 0; k < inputs.length; k++) assert.deepEqual(viaShared[k], got[k]);
  const again = runner.inputBuffer!(n);
  assert.ok(shared.some((b) => b.buffer === again.buffer), 'a finished run gives its buffer back');

  // outputs arrive in shared memory too, each run its own; one given back serves a later run
  assert.ok(viaShared.every((o) => o.buffer instanceof SharedArrayBuffer));
  assert.equal(new Set(viaShared.map((o) => o.buffer)).size, viaShared.length, 'outputs in use are not shared between runs');
  const kept = viaShared[0].slice();
  runner.releaseOutput!(viaShared[1]);
  const next = await runner.run(inputs[0].slice(), 1, T, T);
  assert.equal(next.buffer, viaShared[1].buffer, 'a given-back output is reused');
  assert.deepEqual(next, kept, 'and holds the new result');

  // bytes normalised on the worker through each band's table: the values run is given. Two
  // overlapping windows taken from their columns of bands wider than a window
  const table = Float32Array.from({ length: 768 }, (_, i) => (i >> 8) - 1 + (i & 255) / 100);
  const stride = T + 37, columns = [29, 0];
  const bytes = runner.byteBuffer!(3 * T * stride);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 255;
  const asValues = new Float32Array(2 * 3 * T * T);
  for (let k = 0; k < 2; k++) {
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < T; y++) for (let x = 0; x < T; x++) asValues[((k * 3 + c) * T + y) * T + x] = table[c * 256 + bytes[(c * T + y) * stride + columns[k] + x]];
    }
  }
  const byBytes = await runner.runBytes!({ bytes, stride, columns, table }, 2, T, T);
  assert.deepEqual(byBytes, await runner.run(asValues, 2, T, T));
  assert.notDeepEqual(byBytes.subarray(0, T * T), byBytes.subarray(T * T), 'the two windows differ');
  assert.ok(bytes.buffer instanceof SharedArrayBuffer);
  assert.equal(runner.byteBuffer!(3 * T * stride).buffer, bytes.buffer, 'a finished run gives its byte buffer back');
  await assert.rejects(async () => runner.runBytes!({ bytes: runner.byteBuffer!(3 * T * stride), stride, columns: [38, 0], table }, 2, T, T), /columns \[38, 0\]/, 'a window past the rows is refused');
  assert.deepEqual(viaShared[0], kept, 'an output not given back is left alone');
});
