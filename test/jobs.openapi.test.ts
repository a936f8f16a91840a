/**
 * GET /api/openapi.json describes the whole HTTP API: every method + path registered on the app
 * (walked from express's router) has an operation in the document, and nothing documented is
 * missing from the app.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { Catalog } from '../server/catalog/catalog.ts';
import { closeAppServices, createApp } from '../server/http/app.ts';
import type { AppContext } from '../server/http/context.ts';

interface Layer { route?: { path: string | string[]; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } }

function routesOf(stack: Layer[], out: Set<string>): Set<string> {
  for (const layer of stack) {
    if (layer.route) {
      for (const p of ([] as string[]).concat(layer.route.path)) {
        for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== '_all') out.add(`${m.toUpperCase()} ${p.replace(/:\w+/g, '{}')}`);
      }
    } else if (layer.handle?.stack) {
      routesOf(layer.handle.stack, out);
    }
  }
  return out;
}

/** The app on an empty data folder, served on 127.0.0.1 for the length of `use`. */
async function withApp(use: (base: string, app: unknown) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'fm-openapi-'));
  const config = { host: '127.0.0.1', port: 0, dataDir: join(root, 'data'), demo: false, varDir: join(root, 'var'), maxUploadBytes: 1e6 };
  const catalog = await Catalog.open({ dataDir: config.dataDir, varDir: config.varDir, maxUploadBytes: 1e6 });
  const ctx = { config, catalog } as AppContext;
  const app = await createApp(ctx);
  const server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await use(`http://127.0.0.1:${(server.address() as { port: number }).port}`, app);
  } finally {
    await closeAppServices(ctx);
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(root, { recursive: true, force: true });
  }
}

test('the OpenAPI document lists exactly the routes the app serves', async () => {
  await withApp(async (base, app) => {
    const res = await fetch(`${base}/api/openapi.json`);
    assert.equal(res.status, 200);
    const doc = await res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.match(doc.openapi, /^3\./);
    const documented = new Set<string>();
    for (const [p, ops] of Object.entries(doc.paths)) for (const m of Object.keys(ops)) documented.add(`${m.toUpperCase()} ${p.replace(/\{\w+\}/g, '{}')}`);
    const served = routesOf((app as unknown as { router: { stack: Layer[] } }).router.stack, new Set());
    // the web client's pages are not API
    const api = [...served].filter((r) => !/^GET \/($|index|assets|client|static|\{\})/.test(r) && !r.includes('*'));
    assert.ok(api.length >= 20 && api.includes('POST /processes/{}/execution'), `walked ${api.length} routes: ${api.join(', ')}`);
    const missing = api.filter((r) => !documented.has(r));
    assert.deepEqual(missing, [], `routes served but not in the OpenAPI document: ${missing.join(', ')}`);
    const extra = [...documented].filter((r) => !served.has(r));
    assert.deepEqual(extra, [], `documented but not served: ${extra.join(', ')}`);
  });
});

test('a path under the API\'s prefixes that matches no route is a JSON 404 naming it', async () => {
  await withApp(async (base) => {
    for (const path of ['/api/nope', '/jobs/a/b/c', '/processes/forest-map/nope', '/tiles/x/1/0/0.jpg', '/tiles/x/y']) {
      const r = await fetch(base + path);
      assert.equal(r.status, 404, path);
      assert.match(r.headers.get('content-type') ?? '', /application\/json/, path);
      assert.match((await r.json() as { error: string }).error, new RegExp(`no such API endpoint: GET ${path.replace(/\./g, '\\.')}$`), path);
    }
    // the web client still answers its own paths
    assert.match((await fetch(`${base}/`)).headers.get('content-type') ?? '', /text\/html/);
  });
});
