/**
 * Builds the web client into client/dist with esbuild: one ESM bundle (app.js) plus maplibre's
 * module worker and CSS copied beside it, so the page needs nothing from outside this server.
 *
 * `npx tsx client/build.ts` builds by hand; the server calls `ensureClientBuilt()` at start so
 * `npm start` after a plain `npm install` serves a fresh client.
 */
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

export const clientDir = dirname(fileURLToPath(import.meta.url));
export const distDir = join(clientDir, 'dist');
const stampFile = join(distDir, '.build-stamp');

/** Every input that changes the output: sources, page, styles, this script, maplibre's version. */
function newestInputMtime(): number {
  let newest = 0;
  const visit = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p)) if (!name.endsWith('.test.ts')) visit(join(p, name));
    } else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of ['src', 'index.html', 'style.css', 'build.ts']) {
    const full = join(clientDir, p);
    if (existsSync(full)) visit(full);
  }
  const maplibrePkg = join(maplibreDist(), '..', 'package.json');
  if (existsSync(maplibrePkg)) newest = Math.max(newest, statSync(maplibrePkg).mtimeMs);
  return newest;
}

function maplibreDist(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('maplibre-gl/package.json')) + '/dist';
}

/** True when dist is missing or older than any input. */
export function isClientStale(): boolean {
  if (!existsSync(stampFile) || !existsSync(join(distDir, 'index.html'))) return true;
  const built = Number(readFileSync(stampFile, 'utf8'));
  return !(built >= newestInputMtime());
}

/**
 * Builds into a temporary folder and renames it into place, so a server reading dist never sees
 * a half-written bundle.
 */
export async function buildClient(opts: { minify?: boolean } = {}): Promise<void> {
  const inputsMtime = newestInputMtime();
  const tmp = `${distDir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(tmp, { recursive: true });
  try {
    await build({
      entryPoints: [join(clientDir, 'src', 'main.ts')],
      outfile: join(tmp, 'app.js'),
      bundle: true,
      format: 'esm',
      target: 'es2022',
      platform: 'browser',
      minify: opts.minify ?? true,
      sourcemap: true,
      logLevel: 'warning',
      // maplibre finds its worker beside the bundle via import.meta.url; keep that URL intact
      supported: { 'import-meta': true },
    });
    const ml = maplibreDist();
    copyFileSync(join(ml, 'maplibre-gl-worker.mjs'), join(tmp, 'maplibre-gl-worker.mjs'));
    copyFileSync(join(ml, 'maplibre-gl.css'), join(tmp, 'maplibre-gl.css'));
    copyFileSync(join(clientDir, 'index.html'), join(tmp, 'index.html'));
    copyFileSync(join(clientDir, 'style.css'), join(tmp, 'style.css'));
    writeFileSync(join(tmp, '.build-stamp'), String(inputsMtime));
    rmSync(distDir, { recursive: true, force: true });
    renameSync(tmp, distDir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

let pending: Promise<void> | null = null;

/** Builds once per process when dist is missing or stale; concurrent callers share the build. */
export function ensureClientBuilt(): Promise<void> {
  if (!pending) {
    pending = (isClientStale() ? buildClient() : Promise.resolve()).catch((err) => {
      pending = null;
      throw err;
    });
  }
  return pending;
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  const t0 = Date.now();
  buildClient().then(
    () => console.log(`[client] built ${distDir} in ${Date.now() - t0} ms`),
    (err) => {
      console.error('[client] build failed:', err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
