import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import { startServer, type RunningServer } from '../../../test/e2e/harness.ts';
import { makeScene } from '../../../test/e2e/scene.fixture.ts';
import { waitForTrees } from '../../../test/e2e/page.helpers.ts';
import { lonLatToMercator, tileAt } from '../../../tiles/tile.matrix.set.ts';
import { CROWNS_MIN_ZOOM, TOPS_MIN_ZOOM, TREE_CROWNS_LAYER, TREE_TOPS_LAYER } from '../../features/mvt.ts';

describe('GET /tiles/:id/trees/{z}/{x}/{y}.pbf over a generated scene', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let centre: [number, number];

  before(async () => {
    server = await startServer(async (dataDir) => {
      await makeScene(dataDir, { width: 200, height: 200, gsd: 0.5, seed: 5 });
    });
    const { rasters } = (await (await fetch(`${server.url}/api/rasters`)).json()) as { rasters: Array<{ id: string; wgs84Bounds: number[] }> };
    const b = rasters[0].wgs84Bounds;
    centre = [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
    await waitForTrees(server.url, 'chm', 90_000);
  });
  after(async () => server?.close());

  function tileUrl(id: string, z: number): string {
    const [mx, my] = lonLatToMercator(centre[0], centre[1]);
    const t = tileAt(mx, my, z);
    return `${server.url}/tiles/${id}/trees/${t.z}/${t.x}/${t.y}.pbf`;
  }

  test('a tile over the forest holds the stored trees, tops and crowns, gzipped', async () => {
    const res = await fetch(tileUrl('chm', CROWNS_MIN_ZOOM + 2), { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/vnd.mapbox-vector-tile');
    const vt = new VectorTile(new PbfReader(new Uint8Array(await res.arrayBuffer())));
    const tops = vt.layers[TREE_TOPS_LAYER];
    assert.ok(tops && tops.length > 0, 'tops present');
    const f = tops.feature(0).properties;
    assert.ok(typeof f.height_m === 'number' && (f.height_m as number) >= 2, 'heights are tree heights (hmin 2 m)');
    assert.ok(vt.layers[TREE_CROWNS_LAYER].length > 0, 'crowns present at this zoom');
    // the same numbers as the trees API for one of them
    const id = f.id as number;
    const api = (await (await fetch(`${server.url}/api/rasters/chm/trees?geometry=point&bbox=-180,-85,180,85&limit=50000`)).json()) as { features: Array<{ properties: { id: number; height_m: number } }> };
    assert.equal(api.features.find((t) => t.properties.id === id)?.properties.height_m, f.height_m);
  });

  test('an image without a computed CHM is a 404 in words; without gzip a tile comes plain', async () => {
    // the image has no computed CHM in this scene (the true CHM is registered beside it): 404 in words
    const res = await fetch(tileUrl('image', 17));
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as { error: string }).error, /no canopy height model/);
    const plain = await fetch(tileUrl('chm', 17), { headers: { 'accept-encoding': 'identity' } });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get('content-encoding'), null);
    const bytes = new Uint8Array(await plain.arrayBuffer());
    assert.throws(() => gunzipSync(bytes), 'not gzipped');
    assert.ok(new VectorTile(new PbfReader(bytes)).layers[TREE_TOPS_LAYER].length > 0);
  });

  test('low zooms and empty tiles are 204; bad paths 400; unknown rasters 404', async () => {
    assert.equal((await fetch(tileUrl('chm', TOPS_MIN_ZOOM - 1))).status, 204);
    assert.equal((await fetch(`${server.url}/tiles/chm/trees/18/0/0.pbf`)).status, 204);
    for (const bad of ['18/1/2.png', '3/9/0.pbf', 'x/1/1.pbf', '31/0/0.pbf']) {
      const res = await fetch(`${server.url}/tiles/chm/trees/${bad}`);
      assert.equal(res.status, 400, bad);
      assert.match(((await res.json()) as { error: string }).error, /no tree tile/);
    }
    assert.equal((await fetch(`${server.url}/tiles/nope/trees/18/0/0.pbf`)).status, 404);
  });
});

describe('the web client at /', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => server?.close());

  test('serves the page, its bundle, maplibre\'s worker and CSS from this server', async () => {
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<script type="module" src="app.js">/);
    assert.doesNotMatch(html, /https?:\/\//, 'no external URL in the page');
    for (const [path, type] of [['/app.js', /javascript/], ['/maplibre-gl-worker.mjs', /javascript/], ['/maplibre-gl.css', /css/], ['/style.css', /css/]] as const) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', type, path);
    }
    // API misses are still JSON errors, not the page
    const api = await fetch(`${server.url}/api/nothing-here`);
    assert.equal(api.status, 404);
    assert.match(api.headers.get('content-type') ?? '', /json/);
  });
});
