/**
 * Computed CHMs on disk: varDir/chm/<rasterId>-<rasterVersion>-<modelName>-<modelVersion>.tif
 * (chmCacheKeyOf: modelVersion is the model's cacheVersion, which carries the ONNX digest),
 * with a JSON sidecar naming exactly what it was computed from (file names alone are ambiguous,
 * since ids and versions contain '-'). A file is only ever there complete (the COG writer
 * renames it into place), so its presence means a finished, reusable result, also after a restart.
 * A raster replaced has a new version, hence a new key: its old CHM is simply never matched again,
 * and `removeStale` deletes it.
 */
import { readdir, readFile, rm, writeFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheVersion, type ModelManifest } from '../model/manifest.ts';

export interface ChmCacheKey {
  rasterId: string;
  rasterVersion: string;
  modelName: string;
  modelVersion: string;
}

/** The key of a raster's CHM by a model: the model's cacheVersion, so new weights never match old files. */
export function chmCacheKeyOf(raster: { id: string; version: string }, manifest: Pick<ModelManifest, 'name' | 'version' | 'onnx'>): ChmCacheKey {
  return { rasterId: raster.id, rasterVersion: raster.version, modelName: manifest.name, modelVersion: cacheVersion(manifest) };
}

export interface ChmCacheEntry extends ChmCacheKey {
  path: string;
  createdAt: string;
}

export function chmCacheDir(varDir: string): string {
  return join(varDir, 'chm');
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');

export function chmCachePath(varDir: string, k: ChmCacheKey): string {
  return join(chmCacheDir(varDir), `${safe(k.rasterId)}-${safe(k.rasterVersion)}-${safe(k.modelName)}-${safe(k.modelVersion)}.tif`);
}

const sidecar = (path: string) => `${path}.json`;

/** The cached CHM for a key, or null when it has not been computed (or its sidecar disagrees). */
export async function findCachedChm(varDir: string, k: ChmCacheKey): Promise<ChmCacheEntry | null> {
  const path = chmCachePath(varDir, k);
  const meta = await readSidecar(path);
  if (!meta || !sameKey(meta, k)) return null;
  if (!(await stat(path).then((s) => s.isFile(), () => false))) return null;
  return meta;
}

/** Record a finished CHM (after its file was renamed into place). */
export async function recordCachedChm(varDir: string, k: ChmCacheKey): Promise<ChmCacheEntry> {
  const path = chmCachePath(varDir, k);
  const entry: ChmCacheEntry = { ...k, path, createdAt: new Date().toISOString() };
  await writeFile(sidecar(path), JSON.stringify(entry, null, 2));
  return entry;
}

/** Every recorded CHM whose file is present. */
export async function listCachedChms(varDir: string): Promise<ChmCacheEntry[]> {
  const dir = chmCacheDir(varDir);
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: ChmCacheEntry[] = [];
  for (const name of names.filter((n) => n.endsWith('.tif.json')).sort()) {
    const path = join(dir, name.slice(0, -'.json'.length));
    const meta = await readSidecar(path);
    if (meta && (await stat(path).then((s) => s.isFile(), () => false))) out.push({ ...meta, path });
  }
  return out;
}

/** Delete this raster's CHMs for this model other than `keep` (older raster versions). */
export async function removeStale(varDir: string, rasterId: string, modelName: string, keep: string | null): Promise<void> {
  for (const e of await listCachedChms(varDir)) {
    if (e.rasterId === rasterId && e.modelName === modelName && e.path !== keep) {
      await rm(e.path, { force: true });
      await rm(sidecar(e.path), { force: true });
    }
  }
}

export async function ensureCacheDir(varDir: string): Promise<string> {
  const dir = chmCacheDir(varDir);
  await mkdir(dir, { recursive: true });
  return dir;
}

function sameKey(a: ChmCacheKey, b: ChmCacheKey): boolean {
  return a.rasterId === b.rasterId && a.rasterVersion === b.rasterVersion && a.modelName === b.modelName && a.modelVersion === b.modelVersion;
}

async function readSidecar(path: string): Promise<ChmCacheEntry | null> {
  try {
    const meta = JSON.parse(await readFile(sidecar(path), 'utf8')) as ChmCacheEntry;
    return typeof meta.rasterId === 'string' && typeof meta.rasterVersion === 'string' ? { ...meta, path } : null;
  } catch {
    return null;
  }
}
