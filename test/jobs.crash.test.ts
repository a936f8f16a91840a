/**
 * Durability: a server running a job is killed with SIGKILL mid-way, a new server on the same
 * VAR_DIR resumes the job from its finished tiles, and the result equals an uninterrupted run's
 * (the same pipeline through `forestmap process`): same trees, ids and geometries, byte for byte.
 * Small trees tiles (JOBS_TILE_SIZE=16) make the job long enough to be interrupted. The same again
 * with the units on a BullMQ queue run by a separate `forestmap worker` (JOBS_QUEUE=bullmq).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { JobStore } from '../server/jobs/store.ts';
import { http, makeScene, waitForJob, type SceneFixture } from './jobs.fixture.ts';
import { redisSkip, startRedis } from './redis.fixture.ts';
import { freePort } from './free.port.ts';

let scene: SceneFixture;
const children: ChildProcess[] = [];

before(async () => {
  scene = await makeScene(512, 512, 0.5, 11);
});

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  scene.cleanup();
});

async function startServer(varDir: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['bin/forestmap.js', 'serve'], {
    env: { ...process.env, DATA_DIR: scene.dataDir, VAR_DIR: varDir, PORT: String(port), HOST: '127.0.0.1', JOBS_TILE_SIZE: '16', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let log = '';
  child.stderr!.on('data', (d) => { log += d; });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${log}`)), 60_000);
    child.stdout!.on('data', (d) => { if (String(d).includes('serving')) { clearTimeout(timer); resolve(); } });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${log}`)); });
  });
  return { child, base: `http://127.0.0.1:${port}` };
}

test('a job killed with SIGKILL resumes after restart and equals an uninterrupted run', async () => {
  await killResumeCompare(scene.varDir);
});

test('with units on BullMQ workers: the server killed mid-job resumes and equals an uninterrupted run', { skip: redisSkip }, async () => {
  const redis = await startRedis();
  const varDir = join(scene.root, 'var-bullmq');
  // the server runs no units itself: a separate worker process does, and keeps going while the server is down
  const env = { JOBS_QUEUE: 'bullmq', REDIS_URL: redis.url, JOBS_LOCAL_WORKER: '0' };
  const worker = spawn(process.execPath, ['bin/forestmap.js', 'worker', '--redis', redis.url, '--units', join(varDir, 'units'), '--concurrency', '2'], { stdio: 'ignore' });
  children.push(worker);
  try {
    await killResumeCompare(varDir, env);
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => (worker.exitCode !== null ? r(null) : worker.once('exit', r)));
    await redis.stop();
  }
});

test('a second server on a VAR_DIR in use is refused, naming the first; a server killed with SIGKILL leaves no lock behind', async () => {
  const varDir = join(scene.root, 'var-lock');
  const first = await startServer(varDir);
  const second = spawnSync(process.execPath, ['bin/forestmap.js', 'serve'], {
    env: { ...process.env, DATA_DIR: scene.dataDir, VAR_DIR: varDir, PORT: String(await freePort()), HOST: '127.0.0.1' },
    encoding: 'utf8', timeout: 60_000,
  });
  assert.equal(second.status, 1, second.stdout + second.stderr);
  const expected = `VAR_DIR ${varDir} is in use by another forestmap server (process ${first.child.pid}): stop it first`;
  assert.ok(second.stderr.includes(expected), second.stderr);
  assert.equal((await http(first.base, 'GET', '/api/health')).status, 200, 'the first server is untouched');
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  const third = await startServer(varDir);
  third.child.kill('SIGTERM');
  await new Promise((r) => third.child.once('exit', r));
});

async function killResumeCompare(varDir: string, env: Record<string, string> = {}): Promise<void> {
  const first = await startServer(varDir, env);
  const post = await http(first.base, 'POST', '/processes/forest-map/execution', { inputs: { raster: 'chm' } }, { Prefer: 'respond-async' });
  assert.equal(post.status, 201, post.text);
  const id: string = post.json.jobID;

  // kill once 10-60% of its tiles are recorded done (read from the job database itself, which the
  // server writes in WAL mode: a reader sees each committed unit at once)
  const watch = new Database(join(varDir, 'jobs.sqlite'), { readonly: true, fileMustExist: true });
  const count = watch.prepare('SELECT COALESCE(SUM(done), 0) AS done, COUNT(*) AS total FROM units WHERE job_id = ?');
  let seen = 0;
  for (const end = Date.now() + 60_000; Date.now() < end;) {
    const { done, total } = count.get(`${id}/trees`) as { done: number; total: number };
    assert.ok(!(total > 0 && done === total), 'the job finished its tiles before it could be killed; make it slower');
    if (total > 0 && done >= total * 0.1) { seen = Math.round((100 * done) / total); break; }
    await new Promise((r) => setTimeout(r, 1));
  }
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  watch.close();
  assert.ok(seen >= 10 && seen < 60, `killed at ${seen}% of tiles`);

  // the store holds the job as running with some, not all, tiles done
  const store = new JobStore(join(varDir, 'jobs.sqlite'));
  const atKill = store.unitProgress(`${id}/trees`);
  assert.equal(store.getJob(id)!.status, 'running');
  store.close();
  const db = new Database(join(varDir, 'jobs.sqlite'), { readonly: true });
  const finished = db.prepare('SELECT r.path FROM units u JOIN unit_results r ON r.key = u.key WHERE u.job_id = ? AND u.done = 1').all(`${id}/trees`) as Array<{ path: string }>;
  db.close();
  // a unit output is written to a temporary renamed into place: a rewritten one is another inode (a reused one is only touched)
  const inodes = new Map(finished.map((f) => [f.path, statSync(f.path).ino]));
  assert.ok(atKill.done > 0 && atKill.done < atKill.total, `units done at kill: ${atKill.done}/${atKill.total}`);

  const second = await startServer(varDir, env);
  const done = await waitForJob(second.base, id, 120_000);
  assert.equal(done.status, 'successful', done.message);
  // resumed from its finished tiles: their outputs were not recomputed
  for (const [path, ino] of inodes) assert.equal(statSync(path).ino, ino, `${path} was rewritten`);
  const jobTrees = (await http(second.base, 'GET', `/jobs/${id}/results/trees.geojson`)).text;
  const jobCrowns = (await http(second.base, 'GET', `/jobs/${id}/results/crowns.geojson`)).text;
  second.child.kill('SIGTERM');

  // the uninterrupted run: the same pipeline from the command line, in a fresh folder
  const out = join(varDir, 'reference');
  const cli = spawnSync(process.execPath, ['bin/forestmap.js', 'process', '--chm', join(scene.dataDir, 'chm.tif'), '--out', out, '--tile-size', '16', '--quiet'], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const refTrees = readFileSync(join(out, 'trees.geojson'), 'utf8');
  const parsed = JSON.parse(jobTrees);
  assert.ok(parsed.features.length > 100, `${parsed.features.length} trees`);
  assert.deepEqual(parsed, JSON.parse(refTrees));
  assert.equal(jobTrees, refTrees);
  assert.equal(jobCrowns, readFileSync(join(out, 'crowns.geojson'), 'utf8'));
  console.log(`# killed at ${seen}% (${atKill.done}/${atKill.total} tiles done); ${parsed.features.length} trees identical after resume`);
}
