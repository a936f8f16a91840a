/**
 * The model registry: every models/<id>/manifest.json in the repository plus the directories
 * named in FORESTMAP_MODELS (colon-separated; each is a model directory or a folder of them), so
 * large models can live outside the repository.
 */
import { readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidInputError, NotFoundError } from '../errors.ts';
import { loadManifest, MANIFEST_FILE, type LoadedManifest } from './manifest.ts';

export const REPO_MODELS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../models');

export interface RegistryOptions {
  env?: NodeJS.ProcessEnv;
  /** Folder of model directories scanned first (default: the repository's models/). */
  repoModelsDir?: string;
}

/** A model directory that failed to load: listed so `forestmap models` can say why. */
export interface BrokenModel {
  dir: string;
  error: string;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Candidate model directories, in precedence order, without duplicates. */
async function candidateDirs(opts: RegistryOptions): Promise<string[]> {
  const env = opts.env ?? process.env;
  const roots = [opts.repoModelsDir ?? REPO_MODELS_DIR, ...(env.FORESTMAP_MODELS ?? '').split(':').filter(Boolean).map((p) => resolve(p))];
  const out: string[] = [];
  for (const root of roots) {
    if (existsSync(join(root, MANIFEST_FILE))) {
      out.push(root);
      continue;
    }
    if (!(await isDir(root))) continue;
    for (const name of (await readdir(root)).sort()) {
      const dir = join(root, name);
      if (existsSync(join(dir, MANIFEST_FILE))) out.push(dir);
    }
  }
  return [...new Set(out)];
}

/** Every loadable model, plus the directories whose manifests are broken. */
export async function scanModels(opts: RegistryOptions = {}): Promise<{ models: LoadedManifest[]; broken: BrokenModel[] }> {
  const models: LoadedManifest[] = [];
  const broken: BrokenModel[] = [];
  const seen = new Set<string>();
  for (const dir of await candidateDirs(opts)) {
    try {
      const m = await loadManifest(dir);
      // First one wins: the repository's models shadow same-named ones elsewhere.
      if (seen.has(m.name)) continue;
      seen.add(m.name);
      models.push(m);
    } catch (err) {
      broken.push({ dir, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return { models, broken };
}

export async function listModels(opts: RegistryOptions = {}): Promise<LoadedManifest[]> {
  return (await scanModels(opts)).models;
}

/** The model used when none is named: FORESTMAP_MODEL, else the manifest marked "default": true. Test fixtures never qualify. */
export async function defaultModel(opts: RegistryOptions = {}): Promise<LoadedManifest> {
  const env = opts.env ?? process.env;
  if (env.FORESTMAP_MODEL) return resolveModel(env.FORESTMAP_MODEL, opts);
  const models = await listModels(opts);
  const marked = models.filter((m) => m.default && !m.testFixture);
  if (marked.length > 1) throw new InvalidInputError(`several models are marked "default": ${marked.map((m) => `${m.name} (${m.dir})`).join(', ')}; set FORESTMAP_MODEL to choose one`);
  if (marked.length === 1) return marked[0];
  const real = models.filter((m) => !m.testFixture).map((m) => m.name);
  throw new NotFoundError(
    real.length
      ? `no default model: set FORESTMAP_MODEL to one of ${real.join(', ')} (or a model directory), or mark one manifest "default": true`
      : 'no canopy height model is installed: convert one (see README "Use Meta\'s canopy height model") and set FORESTMAP_MODEL=DIR',
  );
}

/**
 * A model by name (from the registry), by directory (holding manifest.json), or by .onnx path
 * with a manifest.json beside it. No argument: the default model.
 */
export async function resolveModel(nameOrPath?: string, opts: RegistryOptions = {}): Promise<LoadedManifest> {
  if (nameOrPath === undefined || nameOrPath === '') return defaultModel(opts);
  const looksLikePath = nameOrPath.includes('/') || nameOrPath.endsWith('.onnx') || nameOrPath.startsWith('.');
  if (looksLikePath || (await isDir(nameOrPath))) {
    const p = resolve(nameOrPath);
    if (p.endsWith('.onnx')) {
      const m = await loadManifest(dirname(p));
      if (resolve(m.onnxPath) !== p) throw new InvalidInputError(`the manifest beside ${p} describes ${m.onnxPath}, not ${basename(p)}`);
      return m;
    }
    if (await isDir(p)) return loadManifest(p);
    throw new NotFoundError(`model path ${p} is neither a model directory nor an .onnx file`);
  }
  const { models, broken } = await scanModels(opts);
  const found = models.find((m) => m.name === nameOrPath);
  if (found) return found;
  const hint = broken.length ? `; ${broken.length} model director${broken.length === 1 ? 'y is' : 'ies are'} broken (run 'forestmap models')` : '';
  throw new NotFoundError(`unknown model '${nameOrPath}'. Available: ${models.map((m) => m.name).join(', ') || 'none'}${hint}`);
}
