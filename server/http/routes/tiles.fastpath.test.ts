/**
 * The ready-tile fast path (readyTileResponder via createRequestListener): a tile rendered once is
 * answered again in front of Express, byte for byte and header for header, 304 included, while
 * everything else (first renders, bad styles, other methods, a raster replaced on disk or
 * removed) still reaches the app. The app is wrapped so the test sees which requests reach it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog } from '../../catalog/catalog.ts';
import { closeAppServices, createApp, createRequestListener } from '../app.ts';
import type { AppContext } from '../context.ts';
import { loadConfig } from '../../config.ts';
import { lonLatToMercator, tileAt } from '../../../tiles/tile.matrix.set.ts';
import { FIXTURES, makeFixtureDir, makeGeoTiffs, pythonGdalMissing } from '../../../test/fixtures/geotiffs.ts';

const skip = pythonGdalMissing;
const root = makeFixtureDir('fm-tiles-fastpath-');
const dataDir = join(root, 'data');
const varDir = join(root, 'var');
let server: Server;
let base = '';
let ctx: AppContext;
let fx: Record<string, string> = {};
/** Request lines (method + URL) that reached the Express app, i.e. missed the fast path. */
const reachedApp: string[] = [];

before(async () => {
  if (skip) return;
  mkdirSync(dataDir, { recursive: true });
  fx = makeGeoTiffs(root, FIXTURES.filter((f) => ['u8-rgb-utm33-strip-lzw-nodata', 'u8-rgba-3857-tiled-deflate-ovr'].includes(f.name)));
  copyFileSync(fx['u8-rgba-3857-tiled-deflate-ovr'], join(dataDir, 'rgba.tif'));
  const config = { ...loadConfig({}), dataDir, varDir, demo: false };
  const catalog = await Catalog.open({ dataDir, varDir, maxUploadBytes: config.maxUploadBytes });
  ctx = { config, catalog };
  const app = await createApp(ctx);
  const listener = await createRequestListener(ctx, (req, res) => {
    reachedApp.push(`${req.method} ${req.url}`);
    app(req, res);
  });
  server = createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  if (ctx) await closeAppServices(ctx);
  rmSync(root, { recursive: true, force: true });
});

async function get(path: string, init: RequestInit = {}) {
  reachedApp.length = 0;
  const res = await fetch(base + path, init);
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, buf, viaApp: reachedApp.length > 0 };
}

async function wgs84Bounds(id: string): Promise<[number, number, number, number]> {
  return JSON.parse((await get(`/api/rasters/${id}`)).buf.toString()).wgs84Bounds;
}

function innerTile(b: [number, number, number, number], z: number, fx = 0.4, fy = 0.6) {
  return tileAt(...lonLatToMercator(b[0] + fx * (b[2] - b[0]), b[1] + fy * (b[3] - b[1])), z);
}

const SAME = ['etag', 'cache-control', 'content-crs', 'content-bbox', 'content-type', 'content-length'];

test('a repeated tile is answered before Express: same bytes and headers, 304, HEAD, 204 kept', { skip }, async () => {
  const t = innerTile(await wgs84Bounds('rgba'), 18);
  const path = `/tiles/rgba/${t.z}/${t.x}/${t.y}.webp?resampling=nearest`;
  const first = await get(path);
  assert.equal(first.status, 200);
  assert.ok(first.viaApp, 'the first request renders in the app');
  assert.equal(first.headers.get('x-tile-cache'), 'miss');
  for (let i = 0; i < 3; i++) {
    const again = await get(path);
    assert.equal(again.status, 200);
    assert.equal(again.viaApp, false, 'answered by the fast path');
    assert.equal(again.headers.get('x-tile-cache'), 'hit');
    assert.match(again.headers.get('server-timing')!, /^cache;dur=\d+\.\d$/);
    for (const n of SAME) assert.equal(again.headers.get(n), first.headers.get(n), n);
    assert.equal(again.headers.get('content-type'), 'image/webp');
    assert.deepEqual(again.buf, first.buf);
  }
  const etag = first.headers.get('etag')!;
  const nm = await get(path, { headers: { 'if-none-match': etag } });
  assert.equal(nm.status, 304);
  assert.equal(nm.viaApp, false);
  assert.equal(nm.headers.get('etag'), etag);
  assert.equal(nm.headers.get('cache-control'), first.headers.get('cache-control'));
  assert.equal(nm.buf.length, 0);
  const other = await get(path, { headers: { 'if-none-match': '"other"' } });
  assert.equal(other.status, 200);
  assert.equal(other.viaApp, false);
  assert.deepEqual(other.buf, first.buf);
  const head = await get(path, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.viaApp, false);
  assert.equal(head.headers.get('content-length'), String(first.buf.length));
  assert.equal(head.buf.length, 0);

  // an empty tile (outside the raster): 204, and kept as a 204
  const b = await wgs84Bounds('rgba');
  const far = tileAt(...lonLatToMercator(b[2] + 1, b[3] + 1), 18);
  const empty = `/tiles/rgba/${far.z}/${far.x}/${far.y}.png`;
  assert.equal((await get(empty)).status, 204);
  const emptyAgain = await get(empty);
  assert.equal(emptyAgain.status, 204);
  assert.equal(emptyAgain.viaApp, false);
  assert.equal(emptyAgain.headers.get('x-tile-cache'), 'hit');
  assert.equal(emptyAgain.buf.length, 0);
});

test('everything else still reaches the app: bad style 400, other URL/method, other query', { skip }, async () => {
  const t = innerTile(await wgs84Bounds('rgba'), 18, 0.6, 0.4);
  const path = `/tiles/rgba/${t.z}/${t.x}/${t.y}.png`;
  assert.ok((await get(path)).viaApp);
  assert.equal((await get(path)).viaApp, false);
  const bad = await get(`${path}?resampling=nope`);
  assert.equal(bad.status, 400);
  assert.ok(bad.viaApp);
  // another query string is another URL: rendered (or read from the tile cache) by the app first
  const q = await get(`${path}?colormap=viridis`);
  assert.equal(q.status, 200);
  assert.ok(q.viaApp);
  const post = await get(path, { method: 'POST' });
  assert.ok(post.viaApp, 'only GET and HEAD take the fast path');
  assert.equal(post.status, 404);
  const health = await get('/api/health');
  assert.equal(health.status, 200);
  assert.ok(health.viaApp);
  assert.equal((await get('/tiles/nope/1/0/0.png')).status, 404);
});

test('a raster replaced on disk is noticed by ready tiles (after recheckMs); a removed one says 404', { skip }, async () => {
  const up = await fetch(`${base}/api/rasters?filename=disk.tif&id=disk`, {
    method: 'POST', body: readFileSync(fx['u8-rgb-utm33-strip-lzw-nodata']), headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(up.status, 201);
  const t = innerTile((await up.json()).wgs84Bounds, 19);
  const path = `/tiles/disk/${t.z}/${t.x}/${t.y}.png`;
  const before = await get(path);
  assert.equal(before.status, 200);
  const hot = await get(path);
  assert.equal(hot.viaApp, false);
  assert.equal(hot.headers.get('etag'), before.headers.get('etag'));
  // another valid raster under the same name: the version (size + mtime) changes
  copyFileSync(fx['u8-rgba-3857-tiled-deflate-ovr'], join(varDir, 'uploads', 'disk.tif'));
  await new Promise((r) => setTimeout(r, 1100)); // the catalog trusts its last check for recheckMs (1 s)
  const after = await get(path);
  assert.ok(after.viaApp, 'a stale ready tile falls through to the app');
  assert.notEqual(after.headers.get('x-tile-cache'), 'hit');
  assert.notEqual(after.headers.get('etag'), before.headers.get('etag'));
  // the new version is ready in turn
  const again = await get(path);
  assert.equal(again.viaApp, false);
  assert.equal(again.headers.get('etag'), after.headers.get('etag'));
  assert.equal((await get('/api/rasters/disk', { method: 'DELETE' })).status, 200);
  const gone = await get(path);
  assert.equal(gone.status, 404);
  assert.ok(gone.viaApp);
});
