/**
 * Test fixture for the jobs tests: a small generated scene (image.tif, true chm.tif, true trees)
 * in a temp data folder, and helpers for regions and HTTP.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateScene, sceneGrid, SCENE_CRS } from '../server/scene/generate.ts';
import { projector, WGS84 } from '../tiles/projection.ts';

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
