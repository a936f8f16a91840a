import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Catalog } from '../../catalog/catalog.ts';
import { createApp } from '../app.ts';
import type { AppContext } from '../context.ts';
import { loadConfig } from '../../config.ts';
import { crsFromEpsg } from '../../../tiles/projection.ts';
import { releaseAllSessions } from '../../model/session.ts';
import { releaseInferenceRunners } from '../../chm/inference.runner.ts';
import { closeChmService } from '../../chm/service.ts';
import { texture, writeRgb } from '../../chm/test.helpers.ts';

let root: string;
let dataDir: string;
let varDir: string;
const servers: Array<{ server: Server; ctx: AppContext }> = [];

async function start(): Promise<{ base: string; ctx: AppContext }> {
  const config = { ...loadConfig({}), dataDir, varDir, demo: false };
  const catalog = await Catalog.open({ dataDir, varDir, maxUploadBytes: config.maxUploadBytes });
  const ctx: AppContext = { config, catalog };
  const server = createServer(await createApp(ctx));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push({ server, ctx });
  const addr = server.address() as { port: number };
  return { base: `http://127.0.0.1:${addr.port}`, ctx };
}

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: (await res.json()) as any };
}

async function waitDone(base: string, id: string, timeoutMs = 60_000) {
  const t0 = Date.now();
  for (;;) {
    const r = await call(base, 'GET', `/api/rasters/${id}/canopy`);
    if (r.body.state !== 'running') return r;
    if (Date.now() - t0 > timeoutMs) throw new Error('CHM computation did not finish');
    await new Promise((res) => setTimeout(res, 100));
  }
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'canopy-http-'));
  dataDir = join(root, 'data');
  varDir = join(root, 'var');
  await mkdir(dataDir, { recursive: true });
  await writeRgb(join(dataDir, 'plot.tif'), 300, 200, 0.6, crsFromEpsg(32610), [500000, 5000000], texture(1));
  await writeRgb(join(dataDir, 'big.tif'), 1400, 1400, 0.6, crsFromEpsg(32610), [500000, 5000000], texture(2));
});

after(async () => {
  for (const { server, ctx } of servers) {
    await closeChmService(ctx);
    await new Promise((r) => server.close(r));
  }
  await releaseInferenceRunners();
  await releaseAllSessions();
  await rm(root, { recursive: true, force: true });
});

test('POST starts the CHM, GET shows progress, the CHM joins the catalog as role chm; bad requests are 4xx', async () => {
  const { base, ctx } = await start();
  assert.equal((await call(base, 'POST', '/api/rasters/nosuch/canopy', { model: 'hrch-mini' })).status, 404);
  assert.equal((await call(base, 'POST', '/api/rasters/plot/canopy', { model: 'nosuch' })).status, 404);
  assert.equal((await call(base, 'POST', '/api/rasters/plot/canopy', { model: '../../etc' })).status, 400);
  assert.equal((await call(base, 'POST', '/api/rasters/plot/canopy', { model: 'hrch-mini', aerial: 'yes' })).status, 400);
  assert.equal((await call(base, 'GET', '/api/rasters/plot/canopy')).status, 404, 'nothing started yet');

  const first = await call(base, 'POST', '/api/rasters/plot/canopy', { model: 'hrch-mini' });
  assert.equal(first.status, 202);
  assert.equal(first.body.state, 'running');
  const again = await call(base, 'POST', '/api/rasters/plot/canopy', { model: 'hrch-mini' });
  assert.equal(again.body.startedAt, first.body.startedAt, 'a second POST returns the running computation');

  const done = await waitDone(base, 'plot');
  assert.equal(done.body.state, 'done', JSON.stringify(done.body));
  assert.deepEqual([done.body.progress.done, done.body.progress.total], [2, 2]);
  assert.equal(done.body.chmId, 'plot-chm');
  const entry = ctx.catalog.get('plot-chm');
  assert.equal(entry.role, 'chm');
  assert.equal(entry.sourceId, 'plot');
  assert.equal(entry.metadata.sampleType, 'float32');
  assert.deepEqual([entry.metadata.width, entry.metadata.height], [300, 200]);
  assert.match(entry.path, /\/chm\/plot-.+-hrch-mini-1_onnx\.[0-9a-f]{12}\.tif$/);
  assert.equal((await call(base, 'POST', '/api/rasters/plot-chm/canopy', { model: 'hrch-mini' })).status, 400, 'a CHM is not an image');
  const listed = await fetch(`${base}/api/rasters`);
  if (listed.status === 200) {
    const list = (await listed.json()) as any;
    const items: any[] = Array.isArray(list) ? list : list.rasters ?? list.items ?? [];
    assert.ok(items.some((r) => r.id === 'plot-chm'), 'GET /api/rasters lists the CHM');
  }
});

test('the cached CHM is reused after a restart, and recomputed when its raster is replaced', async () => {
  const { base, ctx } = await start(); // a fresh catalog and service over the same var folder
  const status = await call(base, 'GET', '/api/rasters/plot/canopy');
  assert.equal(status.body.state, 'done', 'restored from disk at start');
  assert.ok(ctx.catalog.has('plot-chm'));
  const post = await call(base, 'POST', '/api/rasters/plot/canopy', { model: 'hrch-mini' });
  assert.equal(post.status, 200);
  assert.equal(post.body.cached, true);
  const before = ctx.catalog.get('plot-chm').path;

  // replace the raster: new content and mtime give it a new version
  await writeRgb(join(dataDir, 'plot.tif'), 300, 200, 0.6, crsFromEpsg(32610), [500000, 5000000], texture(9));
  const later = new Date(Date.now() + 5000);
  await utimes(join(dataDir, 'plot.tif'), later, later);
  // the catalog re-checks a file at most every recheck interval: wait until it sees the new version
  const oldVersion = ctx.catalog.get('plot').version;
  for (let t0 = Date.now(); (await ctx.catalog.current('plot')).version === oldVersion; ) {
    if (Date.now() - t0 > 10_000) throw new Error('the catalog never noticed the replaced file');
    await new Promise((r) => setTimeout(r, 100));
  }
  const restarted = await call(base, 'POST', '/api/rasters/plot/canopy', { model: 'hrch-mini' });
  assert.ok([200, 202].includes(restarted.status));
  const done = await waitDone(base, 'plot');
  assert.equal(done.body.state, 'done');
  assert.equal(done.body.cached, false, 'recomputed, not served from the stale cache');
  const after = ctx.catalog.get('plot-chm').path;
  assert.notEqual(after, before);
  assert.ok(existsSync(after));
  assert.equal(existsSync(before), false, 'the stale CHM was deleted');
  const files = (await readdir(join(varDir, 'chm'))).filter((n) => n.startsWith('plot-') && n.endsWith('.tif'));
  assert.equal(files.length, 1);
});

test('DELETE cancels a running computation', async () => {
  const { base } = await start();
  const post = await call(base, 'POST', '/api/rasters/big/canopy', { model: 'hrch-mini' });
  assert.equal(post.status, 202);
  const del = await call(base, 'DELETE', '/api/rasters/big/canopy');
  assert.equal(del.status, 200);
  const done = await waitDone(base, 'big');
  assert.equal(done.body.state, 'cancelled');
  assert.ok(done.body.progress.done < done.body.progress.total);
  assert.equal((await readdir(join(varDir, 'chm'))).some((n) => n.startsWith('big-')), false, 'no CHM file for a cancelled run');
});
