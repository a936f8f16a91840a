/**
 * Test fixture for the jobs tests: a small generated scene (image.tif, true chm.tif, true trees)
 * in a temp data folder, and helpers for regions and HTTP.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateScene, sceneGrid, SCENE_CRS } from '../server/scene/generate.ts';
import { projector, WGS84 } from '../tiles/projection.ts';
import { Catalog } from '../server/catalog/catalog.ts';
import { closeAppServices, createApp } from '../server/http/app.ts';
import type { AppContext } from '../server/http/context.ts';

export interface SceneFixture {
  root: string;
  dataDir: string;
  varDir: string;
  width: number;
  height: number;
  gsd: number;
  cleanup(): void;
}

export async function makeScene(width = 400, height = 400, gsd = 0.5, seed = 7): Promise<SceneFixture> {
  const root = mkdtempSync(join(tmpdir(), 'fm-jobs-'));
  const dataDir = join(root, 'data');
  await generateScene({ out: dataDir, width, height, gsd, seed, preset: 'mixed', crowns: false });
  return { root, dataDir, varDir: join(root, 'var'), width, height, gsd, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export interface SceneServer {
  ctx: AppContext;
  server: Server;
  /** http://127.0.0.1:PORT */
  base: string;
  /** Stops the background services, then the server. */
  close(): Promise<void>;
}

/** The app over the scene's folders on 127.0.0.1 (set JOBS_* variables before: the job service reads them). */
export async function serveScene(f: SceneFixture): Promise<SceneServer> {
  const config = { host: '127.0.0.1', port: 0, dataDir: f.dataDir, demo: false, varDir: f.varDir, maxUploadBytes: 1e8 };
  const catalog = await Catalog.open({ dataDir: f.dataDir, varDir: f.varDir, maxUploadBytes: 1e8 });
  const ctx = { config, catalog } as AppContext;
  const server = createServer(await createApp(ctx));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    ctx, server, base: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      await closeAppServices(ctx);
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A WGS84 polygon from pixel-fraction vertices of the scene (0..1 across, 0..1 down). */
export function sceneRegion(f: SceneFixture, fractions: Array<[number, number]>): { type: 'Polygon'; coordinates: number[][][] } {
  const grid = sceneGrid(f.width, f.height, f.gsd);
  const t = grid.transform;
  const toWgs = projector(SCENE_CRS, WGS84);
  const ring = fractions.map(([fx, fy]) => {
    const [lon, lat] = toWgs(t[0] + fx * f.width * t[1], t[3] + fy * f.height * t[5]);
    return [Math.round(lon * 1e9) / 1e9, Math.round(lat * 1e9) / 1e9];
  });
  ring.push([...ring[0]]);
  return { type: 'Polygon', coordinates: [ring] };
}

export async function http(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

export async function waitForJob(base: string, id: string, timeoutMs = 60_000): Promise<any> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await http(base, 'GET', `/jobs/${id}`);
    if (r.json && !['accepted', 'running'].includes(r.json.status)) return r.json;
    if (Date.now() > end) throw new Error(`job ${id} still ${r.json?.status} after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 50));
  }
}
