import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import express from 'express';
import modelRoutes from './models.ts';
import { errorHandler } from '../errors.ts';
import type { AppContext } from '../context.ts';

// The router alone, behind the app's error handler: the registry reads the repository's models/.
let server: Server;
let base: string;
before(async () => {
  const app = express();
  app.use(modelRoutes({} as AppContext));
  app.use(errorHandler);
  server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test('GET /api/models lists hrch-mini as a test fixture, without server paths', async () => {
  const res = await fetch(`${base}/api/models`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { default: string | null; models: Array<Record<string, any>> };
  const mini = body.models.find((m) => m.name === 'hrch-mini');
  assert.ok(mini);
  assert.equal(mini.testFixture, true);
  assert.equal(mini.default, false);
  assert.notEqual(body.default, 'hrch-mini');
  assert.equal(mini.input.gsd, 0.6);
  assert.deepEqual(mini.links, [{ rel: 'self', href: '/api/models/hrch-mini' }]);
  const text = JSON.stringify(body);
  assert.ok(!text.includes(process.cwd()), 'no absolute server paths');
  assert.equal(mini.onnx.file, undefined);
});

test('GET /api/models/:name returns one model, 404 JSON for an unknown one', async () => {
  const ok = await fetch(`${base}/api/models/hrch-mini`);
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as { architecture: string }).architecture, 'hrch-dpt');
  const missing = await fetch(`${base}/api/models/no-such-model`);
  assert.equal(missing.status, 404);
  const body = (await missing.json()) as { error: string; details: { available: string[] } };
  assert.match(body.error, /unknown model 'no-such-model'/);
  assert.ok(body.details.available.includes('hrch-mini'));
});
