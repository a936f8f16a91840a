/**
 * A small generated forest scene for the browser tests and the screenshot script: the scene
 * command's own output (RGB COG, true CHM, true trees), read back as plain numbers so tests can pick
 * a tall tree and a patch of open ground from the truth.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TruthTree {
  lon: number;
  lat: number;
  height: number;
  /** Crown radius in metres. */
  radius: number;
}

export interface SceneFiles {
  dir: string;
  rgb: string;
  chm: string;
  trees: string;
}

/** Runs `forestmap scene` in-process (the same code path as the command line). */
export async function makeScene(outDir: string, opts: { width: number; height: number; gsd?: number; seed?: number; preset?: string }): Promise<SceneFiles> {
  const modulePath = '../../server/cli/scene.ts';
  const scene = (await import(modulePath)) as { run(argv: string[]): Promise<number> };
  const argv = ['--quiet', '--out', outDir, '--width', String(opts.width), '--height', String(opts.height), '--gsd', String(opts.gsd ?? 0.5), '--seed', String(opts.seed ?? 7)];
  if (opts.preset) argv.push('--preset', opts.preset);
  const code = await scene.run(argv);
  if (code !== 0) throw new Error(`forestmap scene exited with ${code}`);
  return findSceneFiles(outDir);
}

export function findSceneFiles(dir: string): SceneFiles {
  const names = readdirSync(dir);
  const tif = names.filter((n) => /\.tiff?$/i.test(n));
  const chm = tif.find((n) => /chm/i.test(n));
  const rgb = tif.find((n) => n !== chm);
  const trees = names.find((n) => /tree/i.test(n) && /json$/i.test(n));
  if (!chm || !rgb || !trees) throw new Error(`scene in ${dir} lacks an RGB tif, a CHM tif or a trees GeoJSON: ${names.join(', ')}`);
  return { dir, rgb: join(dir, rgb), chm: join(dir, chm), trees: join(dir, trees) };
}

function num(...vs: unknown[]): number | null {
  for (const v of vs) if (typeof v === 'number' && Number.isFinite(v)) return v;
  return null;
}

/** The true trees: top position (WGS84), height and crown radius, from the scene's GeoJSON. */
export function readTruthTrees(path: string): TruthTree[] {
  const fc = JSON.parse(readFileSync(path, 'utf8')) as { features: Array<{ geometry: { type: string; coordinates: any }; properties: Record<string, unknown> }> };
  const out: TruthTree[] = [];
  for (const f of fc.features) {
    const p = f.properties ?? {};
    let lon = num(p.lon, p.top_lon, (p.top as number[] | undefined)?.[0]);
    let lat = num(p.lat, p.top_lat, (p.top as number[] | undefined)?.[1]);
    if ((lon === null || lat === null) && f.geometry?.type === 'Point') [lon, lat] = f.geometry.coordinates as [number, number];
    const height = num(p.height_m, p.height);
    const radius = num(p.crown_radius_m, p.crown_radius, p.radius_m, p.radius) ?? (num(p.crown_diameter_m) ?? 0) / 2;
    if (lon === null || lat === null || height === null) continue;
    out.push({ lon, lat, height, radius });
  }
  return out;
}

const M_PER_DEG = 111_320;

/** Ground distance in metres between two WGS84 points (equirectangular: fine over a scene). */
export function metresBetween(aLon: number, aLat: number, bLon: number, bLat: number): number {
  const k = Math.cos(((aLat + bLat) / 2) * (Math.PI / 180));
  return Math.hypot((aLon - bLon) * M_PER_DEG * k, (aLat - bLat) * M_PER_DEG);
}

/** The point of the box farthest from every crown edge: open ground for pixel checks. */
export function openGround(trees: TruthTree[], bbox: [number, number, number, number], margin = 0.15): { lon: number; lat: number; clearance: number } {
  const [w, s, e, n] = bbox;
  let best = { lon: (w + e) / 2, lat: (s + n) / 2, clearance: -Infinity };
  const steps = 40;
  for (let i = 0; i <= steps; i++) {
    for (let j = 0; j <= steps; j++) {
      const lon = w + (e - w) * (margin + ((1 - 2 * margin) * i) / steps);
      const lat = s + (n - s) * (margin + ((1 - 2 * margin) * j) / steps);
      let clearance = Infinity;
      for (const t of trees) clearance = Math.min(clearance, metresBetween(lon, lat, t.lon, t.lat) - t.radius);
      if (clearance > best.clearance) best = { lon, lat, clearance };
    }
  }
  return best;
}

/** A tall tree well inside the box (so its whole crown is in the scene). */
export function tallTree(trees: TruthTree[], bbox: [number, number, number, number], margin = 0.2): TruthTree {
  const [w, s, e, n] = bbox;
  const inside = trees.filter((t) => t.lon > w + (e - w) * margin && t.lon < e - (e - w) * margin && t.lat > s + (n - s) * margin && t.lat < n - (n - s) * margin);
  if (!inside.length) throw new Error('the scene has no tree away from its border');
  return inside.reduce((a, b) => (b.height > a.height ? b : a));
}
