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

test('the OpenAPI document lists exactly the routes the app serves', async () => {
  const root = mkdtempSync(join(tmpdir(), 'fm-openapi-'));
  const config = { host: '127.0.0.1', port: 0, dataDir: join(root, 'data'), demo: false, varDir: join(root, 'var'), maxUploadBytes: 1e6 };
  const catalog = await Catalog.open({ dataDir: config.dataDir, varDir: config.varDir, maxUploadBytes: 1e6 });
  const ctx = { config, catalog } as AppContext;
  const app = await createApp(ctx);
  const server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/api/openapi.json`);
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
  } finally {
    await closeAppServices(ctx);
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(root, { recursive: true, force: true });
  }
});
