import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as turf from '@turf/turf';
import { Catalog } from '../server/catalog/catalog.ts';
import { createApp } from '../server/http/app.ts';
import type { AppContext } from '../server/http/context.ts';
import { loadConfig } from '../server/config.ts';
import { writeCogImage } from '../server/raster/cog.writer.ts';
import { syntheticForest } from '../server/trees/synthetic.ts';
import { detectTrees } from '../server/trees/detect.ts';
import { closeTreeService, treeServiceFor } from '../server/http/routes/trees.ts';
import { SERVER_TREE_OPTIONS, TreeService } from '../server/trees/service.ts';
import { projector, WGS84 } from '../tiles/projection.ts';

let root: string;
let server: Server;
let ctx: AppContext;
let base: string;
const forest = syntheticForest({ width: 240, height: 200, seed: 21, density: 0.01 });

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'trees-http-'));
  const dataDir = join(root, 'data'), varDir = join(root, 'var');
  await mkdir(dataDir, { recursive: true });
  await writeCogImage(join(dataDir, 'stand_chm.tif'), forest.image, { sampleType: 'float32' });
  const config = { ...loadConfig({}), dataDir, varDir, demo: false };
  const catalog = await Catalog.open({ dataDir, varDir, maxUploadBytes: config.maxUploadBytes });
  ctx = { config, catalog };
  server = createServer(await createApp(ctx));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(async () => {
  await closeTreeService(ctx);
  await new Promise<void>((r) => server.close(() => r()));
  await rm(root, { recursive: true, force: true });
});

test('a CHM in the catalog gets its trees computed in the background, then answers bbox queries', async () => {
  const id = ctx.catalog.list().find((e) => e.role === 'chm')!.id;
  await treeServiceFor(ctx).drained();
  const status = await (await fetch(`${base}/api/rasters/${id}/trees/status`)).json() as any;
  assert.equal(status.state, 'done');
  assert.equal(status.progress, 1);

  const expected = detectTrees(forest.image, SERVER_TREE_OPTIONS);
  assert.equal(status.trees, expected.trees.length);

  // the whole raster: every tree, crown polygons in WGS84
  const all = await fetch(`${base}/api/rasters/${id}/trees?bbox=-180,-90,180,90&limit=50000`);
  assert.equal(all.status, 200);
  assert.match(all.headers.get('content-type') ?? '', /geo\+json/);
  const fc = await all.json() as any;
  assert.equal(fc.type, 'FeatureCollection');
  assert.equal(fc.features.length, expected.trees.length);
  const withCrown = fc.features.filter((f: any) => f.geometry.type === 'Polygon');
  assert.ok(withCrown.length > expected.trees.length * 0.8);
  for (const f of withCrown.slice(0, 50)) assert.ok(turf.booleanValid(f), `feature ${f.id} valid`);
  assert.deepEqual(Object.keys(fc.features[0].properties).sort(), ['crown_area_m2', 'crown_diameter_m', 'height_m', 'id']);

  // a small window around one tree's top returns it, and only trees whose crowns reach the window
  const t = expected.trees[Math.floor(expected.trees.length / 2)];
  const [lon, lat] = projector(forest.image.grid.crs, WGS84)(t.x, t.y);
  const d = 0.00001;
  const near = await (await fetch(`${base}/api/rasters/${id}/trees?bbox=${lon - d},${lat - d},${lon + d},${lat + d}`)).json() as any;
  assert.ok(near.features.some((f: any) => f.id === t.id));
  assert.ok(near.features.length < 10);

  // limit keeps the tallest and says so
  const top3 = await fetch(`${base}/api/rasters/${id}/trees?bbox=-180,-90,180,90&limit=3&geometry=point`);
  assert.equal(top3.headers.get('x-trees-truncated'), 'true');
  const top3fc = await top3.json() as any;
  assert.equal(top3fc.features.length, 3);
  assert.equal(top3fc.features[0].geometry.type, 'Point');
  const tallest = [...expected.trees].sort((a, b) => b.height - a.height).slice(0, 3).map((x) => x.id).sort();
  assert.deepEqual(top3fc.features.map((f: any) => f.id).sort(), tallest);
});

test('after a restart a finished store reports its trees, without computing them again', async () => {
  const id = ctx.catalog.list().find((e) => e.role === 'chm')!.id;
  await treeServiceFor(ctx).drained();
  const before = treeServiceFor(ctx).status(id)!;
  assert.ok(before.trees > 0);
  // a second service over the same folders stands for the next process
  const again = new TreeService(ctx.catalog, ctx.config.varDir);
  try {
    assert.deepEqual({ ...again.status(id)!, progress: 1 }, { ...before, progress: 1 });
    assert.equal(again.status(id)!.state, 'done', 'not queued again');
  } finally {
    await again.close();
  }
});

test('bad queries get a clear 400 and unknown rasters a 404', async () => {
  const id = ctx.catalog.list().find((e) => e.role === 'chm')!.id;
  for (const q of ['', 'bbox=1,2,3', 'bbox=a,b,c,d', 'bbox=10,10,0,0', 'bbox=-200,0,0,1', 'bbox=0,0,1,1&limit=0', 'bbox=0,0,1,1&limit=abc', 'bbox=0,0,1,1&geometry=hex']) {
    const r = await fetch(`${base}/api/rasters/${id}/trees?${q}`);
    assert.equal(r.status, 400, q);
    const body = await r.json() as any;
    assert.equal(body.status, 400);
    assert.ok(body.error.length > 5);
  }
  const r = await fetch(`${base}/api/rasters/nope/trees?bbox=0,0,1,1`);
  assert.equal(r.status, 404);
  // an unknown raster is named even when the query is incomplete too
  const both = await fetch(`${base}/api/rasters/nope/trees`);
  assert.equal(both.status, 404);
  assert.match(((await both.json()) as any).error, /nope/);
});
