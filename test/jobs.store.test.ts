/**
 * The job layer on its own: the SQLite store, the embedded work queue (idempotent, reusing unit
 * outputs across jobs and restarts) and the runner (limits, dismissal, failure, resume).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusyError } from '../server/errors.ts';
import { JobStore } from '../server/jobs/store.ts';
import { evictUnitCache, SqliteWorkQueue, writeFileAtomic, hashOf, unitKeyHash, type WorkUnit } from '../server/jobs/queue.ts';
import { JobRunner, type JobExecutor } from '../server/jobs/runner.ts';
import { TileRowGate } from '../server/jobs/pipeline.ts';
import { JobService, loadJobsConfig } from '../server/jobs/service.ts';

function tmp() {
  const dir = mkdtempSync(join(tmpdir(), 'fm-store-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

const units = (keys: string[]): WorkUnit<{ n: number }>[] => keys.map((key, n) => ({ key, spec: { n } }));

test('the queue runs each key once and reuses outputs across jobs and store reopenings', async () => {
  const t = tmp();
  let calls = 0;
  const exec = async (u: WorkUnit<{ n: number }>, out: string) => { calls++; writeFileAtomic(out, `unit ${u.key}`); };
  let store = new JobStore(join(t.dir, 'jobs.sqlite'));
  let queue = new SqliteWorkQueue(store, join(t.dir, 'units'), exec, 2);
  const progress: number[] = [];
  const paths = await queue.run('a', units(['k1', 'k2', 'k3']), { signal: new AbortController().signal, onProgress: (d) => progress.push(d) });
  assert.equal(calls, 3);
  assert.deepEqual(progress, [0, 1, 2, 3]);
  assert.equal(readFileSync(paths[1], 'utf8'), 'unit k2');
  assert.deepEqual(store.unitProgress('a'), { done: 3, total: 3 });
  store.close();

  // a new process: the same keys in another job are not recomputed; a new key is
  store = new JobStore(join(t.dir, 'jobs.sqlite'));
  queue = new SqliteWorkQueue(store, join(t.dir, 'units'), exec, 2);
  // each unit is announced once, with its output in place: the reused ones first, then k4
  const announced: Array<[number, boolean]> = [];
  const b = units(['k2', 'k3', 'k4']);
  await queue.run('b', b, { signal: new AbortController().signal, onUnitDone: (i) => announced.push([i, existsSync(queue.resultPath(b[i].key))]) });
  assert.equal(calls, 4);
  assert.deepEqual(announced, [[0, true], [1, true], [2, true]]);
  // an output lost from disk is recomputed, not trusted
  rmSync(queue.resultPath('k1'));
  await queue.run('c', units(['k1']), { signal: new AbortController().signal });
  assert.equal(calls, 5);
  assert.ok(existsSync(queue.resultPath('k1')));
  // forgetting by prefix (a replaced raster's units) deletes records and files, and only those
  await queue.run('d', units(['r_1@v1/a', 'r%1@v1/a']), { signal: new AbortController().signal });
  assert.equal(queue.forgetPrefix('r_1@'), 1);
  assert.equal(existsSync(queue.resultPath('r_1@v1/a')), false);
  assert.ok(store.unitResult('r%1@v1/a'));
  store.close();
  t.done();
});

test('with units in parallel, progress sums their fractions and never steps back', async () => {
  const t = tmp();
  const store = new JobStore(join(t.dir, 'jobs.sqlite'));
  let started = 0, finished = 0;
  let release!: () => void;
  const bothRunning = new Promise<void>((r) => (release = r));
  const tick = () => new Promise<void>((r) => setImmediate(r));
  // the first two units run together: the second reports 0.75, then the first reports 0.25
  const queue = new SqliteWorkQueue<{ n: number }>(store, join(t.dir, 'units'), async (u, out, _signal, partial) => {
    if (++started === 2) release();
    await bothRunning;
    if (u.spec.n === 1) partial?.(0.75);
    else {
      await tick();
      partial?.(0.25);
    }
    await tick();
    writeFileAtomic(out, u.key);
    finished++;
  }, 2);
  const progress: Array<{ d: number; finished: number }> = [];
  await queue.run('p', units(['u0', 'u1', 'u2', 'u3']), { signal: new AbortController().signal, onProgress: (d) => progress.push({ d, finished }) });
  const ds = progress.map((p) => p.d);
  for (let i = 1; i < ds.length; i++) assert.ok(ds[i] >= ds[i - 1], `progress stepped back: ${ds.slice(0, i + 1).join(', ')}`);
  assert.equal(ds[ds.length - 1], 4);
  // before any unit has finished, both running units count: 0.75 + 0.25
  assert.ok(progress.some((p) => p.finished === 0 && p.d > 0.9), `fractions of two units add up: ${ds.join(', ')}`);
  store.close();
  t.done();
});

test('an aborted queue run stops between units and keeps the finished ones', async () => {
  const t = tmp();
  const store = new JobStore(join(t.dir, 'jobs.sqlite'));
  const controller = new AbortController();
  let calls = 0;
  const queue = new SqliteWorkQueue(store, join(t.dir, 'units'), async (u, out) => {
    calls++;
    writeFileAtomic(out, u.key);
    if (calls === 2) controller.abort();
  });
  await assert.rejects(queue.run('a', units(['a', 'b', 'c', 'd']), { signal: controller.signal }), /cancelled/);
  assert.deepEqual(store.unitProgress('a'), { done: 2, total: 4 });
  store.close();
  t.done();
});

test('two jobs needing the same units at once: each unit runs once, both get it; one cancelled mid-unit leaves it to the other', async () => {
  const t = tmp();
  const store = new JobStore(join(t.dir, 'jobs.sqlite'));
  const runs: string[] = [];
  // units take a while, so the second job meets them in flight
  const exec = async (u: WorkUnit<{ n: number }>, out: string, signal: AbortSignal) => {
    runs.push(u.key);
    for (let k = 0; k < 5; k++) {
      await new Promise((r) => setTimeout(r, 5));
      if (signal.aborted) throw new Error('cancelled');
    }
    writeFileAtomic(out, `unit ${u.key}`);
  };
  const queue = new SqliteWorkQueue(store, join(t.dir, 'units'), exec, 2);
  const keys = ['s1', 's2', 's3', 's4', 's5'];
  const [a, b] = await Promise.all(['a', 'b'].map((job) => queue.run(job, units(keys), { signal: new AbortController().signal })));
  assert.deepEqual([...runs].sort(), keys, 'each unit ran once');
  assert.deepEqual(a, b);
  for (const job of ['a', 'b']) assert.deepEqual(store.unitProgress(job), { done: 5, total: 5 });

  // job c starts a unit and is cancelled during it; job d, waiting on that unit, computes it itself
  runs.length = 0;
  const cancelC = new AbortController();
  const c = queue.run('c', units(['t1']), { signal: cancelC.signal });
  await new Promise((r) => setTimeout(r, 2));
  const d = queue.run('d', units(['t1']), { signal: new AbortController().signal });
  await new Promise((r) => setTimeout(r, 8));
  cancelC.abort();
  await assert.rejects(c, /cancelled/);
  const [path] = await d;
  assert.equal(readFileSync(path, 'utf8'), 'unit t1');
  assert.deepEqual(runs, ['t1', 't1']);
  assert.deepEqual(store.unitProgress('d'), { done: 1, total: 1 });
  store.close();
  t.done();
});

test('option hashes are stable under key order', () => {
  assert.equal(hashOf({ a: 1, b: [1, { c: 2, d: 3 }] }), hashOf({ b: [1, { d: 3, c: 2 }], a: 1 }));
  assert.notEqual(hashOf({ a: 1 }), hashOf({ a: 2 }));
});

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => { open = r; });
  return { p, open };
}

test('the runner limits jobs, dismisses queued ones, records failures', async () => {
  const t = tmp();
  const store = new JobStore(join(t.dir, 'jobs.sqlite'));
  const g = gate();
  const ran: string[] = [];
  const exec: JobExecutor = async ({ job, signal }) => {
    ran.push((job.inputs as { name: string }).name);
    if ((job.inputs as { name: string }).name === 'bad') throw new Error('the raster vanished');
    await Promise.race([g.p, new Promise((_, rej) => signal.addEventListener('abort', () => rej(new Error('aborted'))))]);
    return { ok: true };
  };
  const runner = new JobRunner(store, join(t.dir, 'jobs'), exec, { maxRunning: 1, maxQueued: 2 });
  const a = runner.submit('p', { name: 'a' });
  const b = runner.submit('p', { name: 'b' });
  const c = runner.submit('p', { name: 'bad' });
  assert.throws(() => runner.submit('p', { name: 'd' }), BusyError);
  assert.equal(runner.get(a.id).status, 'running');
  assert.equal(runner.get(b.id).status, 'accepted');
  assert.equal(runner.dismiss(b.id).status, 'dismissed');
  g.open();
  assert.equal((await runner.wait(a.id)).status, 'successful');
  const failed = await runner.wait(c.id);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.message, 'the raster vanished');
  assert.deepEqual(ran, ['a', 'bad'], 'the dismissed job never ran');
  assert.deepEqual(runner.get(a.id).result, { ok: true });
  await runner.close();
  store.close();
  t.done();
});

test('a job left running by a dead process is resumed by the next runner', async () => {
  const t = tmp();
  let store = new JobStore(join(t.dir, 'jobs.sqlite'));
  const never: JobExecutor = ({ signal }) => new Promise((_, rej) => signal.addEventListener('abort', () => rej(new Error('aborted'))));
  let runner = new JobRunner(store, join(t.dir, 'jobs'), never);
  const job = runner.submit('p', { name: 'x' });
  await runner.close(); // like a kill: the job stays 'running' in the store
  assert.equal(store.getJob(job.id)!.status, 'running');
  store.close();

  store = new JobStore(join(t.dir, 'jobs.sqlite'));
  const seen: string[] = [];
  runner = new JobRunner(store, join(t.dir, 'jobs'), async ({ job: j }) => { seen.push(j.id); return 42; });
  runner.resume();
  assert.equal((await runner.wait(job.id)).status, 'successful');
  assert.deepEqual(seen, [job.id]);
  await runner.close();
  store.close();
  t.done();
});

test('retention: jobs finished before the cutoff are forgotten with their outputs; recent and running ones stay', async () => {
  const t = tmp();
  const store = new JobStore(join(t.dir, 'jobs.sqlite'));
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const runner = new JobRunner(store, join(t.dir, 'jobs'), async ({ job, outDir }) => {
    writeFileAtomic(join(outDir, 'trees.geojson'), '{}');
    if ((job.inputs as { name: string }).name === 'running') await held;
    return { ok: true };
  }, { maxRunning: 2, maxQueued: 2 });
  const old = await runner.wait(runner.submit('p', { name: 'old' }).id);
  const recent = await runner.wait(runner.submit('p', { name: 'recent' }).id);
  const running = runner.submit('p', { name: 'running' });
  store.updateJob(old.id, { finished: '2020-01-01T00:00:00.000Z' });
  store.updateJob(recent.id, { finished: '2026-06-01T00:00:00.000Z' });
  assert.ok(existsSync(runner.outDir(old.id)));

  assert.equal(runner.purgeFinishedBefore(new Date('2026-01-01T00:00:00.000Z')), 1);
  assert.throws(() => runner.get(old.id), /no job/);
  assert.equal(existsSync(runner.outDir(old.id)), false, 'its outputs are gone');
  assert.equal(store.unitProgress(old.id).total, 0);
  assert.equal(runner.get(recent.id).status, 'successful');
  assert.ok(existsSync(join(runner.outDir(recent.id), 'trees.geojson')));
  assert.equal(runner.get(running.id).status, 'running', 'a running job is never purged');
  // a cutoff after everything still spares the running job
  assert.equal(runner.purgeFinishedBefore(new Date('2100-01-01T00:00:00.000Z')), 1);
  assert.equal(runner.get(running.id).status, 'running');
  release();
  await runner.wait(running.id);
  await runner.close();
  store.close();
  t.done();
});

test('JOBS_RETENTION_DAYS: 30 by default, 0 keeps jobs, nonsense is refused; the service purges at start', async () => {
  assert.equal(loadJobsConfig({}).retentionDays, 30);
  assert.equal(loadJobsConfig({ JOBS_RETENTION_DAYS: '0' }).retentionDays, 0);
  assert.throws(() => loadJobsConfig({ JOBS_RETENTION_DAYS: '-1' }), /JOBS_RETENTION_DAYS/);
  const t = tmp();
  // a job store left by an earlier run: one job finished long ago
  const store = new JobStore(join(t.dir, 'jobs.sqlite'));
  const job = store.createJob('forest-map', {}, 'successful');
  store.updateJob(job.id, { finished: '2020-01-01T00:00:00.000Z' });
  store.close();
  const catalog = { get: () => { throw new Error('no rasters'); } };
  const kept = new JobService({ varDir: t.dir, catalog, config: { ...loadJobsConfig({}), retentionDays: 0 } });
  assert.equal(kept.runner.get(job.id).status, 'successful', 'retention 0 keeps everything');
  await kept.close();
  const service = new JobService({ varDir: t.dir, catalog, config: loadJobsConfig({}) });
  assert.throws(() => service.runner.get(job.id), /no job/, 'forgotten when the service starts');
  await service.close();
  t.done();
});

test('a queue starting on a units folder sweeps temporaries a killed writer left an hour ago, and nothing else', () => {
  const t = tmp();
  try {
    const dir = join(t.dir, 'units');
    mkdirSync(dir);
    const h = unitKeyHash('some unit');
    const old = [`${h}.bin.4242.tmp`, `${h}.bin.4242.k3j2ab.tmp`];
    const keep = [`${h}.bin`, `${h}.bin.5151.tmp`, 'notes.tmp', `${h}.bin.x.tmp`];
    for (const f of [...old, ...keep]) writeFileSync(join(dir, f), 'x');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    for (const f of [...old, 'notes.tmp', `${h}.bin`]) utimesSync(join(dir, f), twoHoursAgo, twoHoursAgo);
    const store = new JobStore(':memory:');
    new SqliteWorkQueue(store, dir, async () => undefined);
    // the fresh temporary may belong to a unit being written right now
    assert.deepEqual(readdirSync(dir).sort(), [...keep].sort());
    store.close();
  } finally {
    t.done();
  }
});

test('a tile row is ready once all its trees units are done, in any order; a failed run rejects the rows still waiting', async () => {
  const gate = new TileRowGate([2, 0, 3]);
  const ready: number[] = [];
  for (const r of [0, 1, 2]) void gate.ready(r).then(() => ready.push(r), () => ready.push(-r - 1));
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  await settle();
  assert.deepEqual(ready, [1], 'a row without units is ready at once');
  gate.unitDone(3); gate.unitDone(1);
  await settle();
  assert.deepEqual(ready, [1], 'units of rows 0 and 2 done, neither row whole');
  gate.unitDone(0);
  await settle();
  assert.deepEqual(ready, [1, 0]);
  assert.throws(() => gate.unitDone(5), /no trees unit 5/);
  gate.fail(new Error('detector exploded'));
  await settle();
  assert.deepEqual(ready, [1, 0, -3], 'row 2 was still waiting: it fails');
});

test('the unit cache stays within its budget: least recently used first, never a unit of a waiting or running job; an evicted unit is computed again', async () => {
  const t = tmp();
  try {
    let calls = 0;
    const exec = async (u: WorkUnit<{ n: number }>, out: string) => { calls++; writeFileAtomic(out, `${u.key} `.padEnd(1000, '.')); };
    const store = new JobStore(join(t.dir, 'jobs.sqlite'));
    const dir = join(t.dir, 'units');
    const queue = new SqliteWorkQueue(store, dir, exec);
    const signal = new AbortController().signal;
    // a running job's stage (as the pipeline names its runs) holds 'busy'; finished jobs held the rest
    const running = store.createJob('forest-map', {}, 'running');
    await queue.run(`${running.id}/chm`, units(['busy']), { signal });
    await queue.run('old', units(['a', 'b', 'c', 'd']), { signal });
    const ago = (s: number) => new Date(Date.now() - s * 1000);
    for (const [key, s] of [['busy', 500], ['a', 400], ['b', 300], ['c', 200], ['d', 100]] as const) utimesSync(queue.resultPath(key), ago(s), ago(s));
    // a later job reusing 'a' makes it the most recently used
    await queue.run('later', units(['a']), { signal });
    assert.equal(calls, 5, "'a' reused, not recomputed");
    const e = await evictUnitCache(store, dir, 3000);
    assert.equal(e.bytesBefore, 5000);
    assert.equal(e.bytesAfter, 3000);
    assert.deepEqual(e.removed, [queue.resultPath('b'), queue.resultPath('c')], 'the two least recently used, not the running job\'s older one');
    for (const key of ['b', 'c']) {
      assert.equal(existsSync(queue.resultPath(key)), false, `${key}'s file removed`);
      assert.equal(store.unitResult(key), null, `${key}'s record dropped`);
    }
    for (const key of ['busy', 'a', 'd']) assert.ok(existsSync(queue.resultPath(key)) && store.unitResult(key), `${key} kept`);
    // within budget: nothing to do
    assert.deepEqual((await evictUnitCache(store, dir, 3000)).removed, []);
    // budget 0: only what active jobs use stays
    assert.deepEqual((await evictUnitCache(store, dir, 0)).removed.length, 2);
    assert.deepEqual(readdirSync(dir), [`${unitKeyHash('busy')}.bin`]);
    await queue.run('again', units(['b']), { signal });
    assert.equal(calls, 6, 'an evicted unit is computed again');
    // once its job has finished, the running job's unit is evictable like any other
    store.updateJob(running.id, { status: 'successful' });
    assert.equal((await evictUnitCache(store, dir, 0)).removed.length, 2);
    store.close();
  } finally {
    t.done();
  }
});

test('deleting a job removes the unit lists of its stages too, and only its own', () => {
  const store = new JobStore(':memory:');
  const a = store.createJob('forest-map', {}, 'successful'), b = store.createJob('forest-map', {}, 'successful');
  for (const id of [a.id, b.id]) for (const stage of ['chm', 'trees']) store.putUnits(`${id}/${stage}`, ['k1', 'k2']);
  store.deleteJob(a.id);
  assert.equal(store.unitProgress(`${a.id}/chm`).total, 0);
  assert.equal(store.unitProgress(`${a.id}/trees`).total, 0);
  assert.equal(store.unitProgress(`${b.id}/trees`).total, 2);
  store.close();
});

test('JOBS_UNIT_CACHE_GB: 20 GB by default, 0 allowed, nonsense refused', () => {
  assert.equal(loadJobsConfig({}).unitCacheBytes, 20 * 2 ** 30);
  assert.equal(loadJobsConfig({ JOBS_UNIT_CACHE_GB: '0' }).unitCacheBytes, 0);
  assert.equal(loadJobsConfig({ JOBS_UNIT_CACHE_GB: '0.5' }).unitCacheBytes, 2 ** 29);
  assert.throws(() => loadJobsConfig({ JOBS_UNIT_CACHE_GB: '-1' }), /JOBS_UNIT_CACHE_GB/);
  assert.throws(() => loadJobsConfig({ JOBS_UNIT_CACHE_GB: 'lots' }), /JOBS_UNIT_CACHE_GB/);
});
