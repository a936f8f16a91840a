/**
 * The embedded demo: with no DATA_DIR, `npm start` serves a synthetic 1 km² forest so a newcomer
 * sees a map at once. The scene is generated once under VAR_DIR/demo (atomically: a temp folder
 * renamed into place) and reused while its parameters and the scene version match. After it is
 * registered, the stages in `demoStages` (canopy height, trees: added by their owners) run in the
 * background, logging progress.
 */
import { mkdir, readFile, rename, rm, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { SCENE_VERSION, type SceneSummary } from './scene/generate.ts';
import { generateSceneOffThread } from './scene/off.thread.ts';
import type { AppContext } from './http/context.ts';
import type { CatalogEntry } from './catalog/catalog.ts';
import { canopyDemoStage } from './chm/demo.stage.ts';
import { treesDemoStage } from './trees/demo.stage.ts';

/** About 1 km² at 0.5 m: big enough for a real map, small enough to generate in seconds. */
export const DEMO_SCENE: DemoParams = { width: 2000, height: 2000, gsd: 0.5, seed: 20240611, preset: 'mixed' };

export interface DemoParams {
  width: number;
  height: number;
  gsd: number;
  seed: number;
  preset: string;
}
export const DEMO_IDS = { image: 'demo', chmTruth: 'demo-chm-truth' } as const;

export interface DemoScene {
  dir: string;
  imagePath: string;
  /** The exact canopy height model the scene was rendered from (for comparison with predictions). */
  chmTruthPath: string;
  /** RFC 7946 points of the true trees; crownsPath holds their crown polygons. */
  treesPath: string;
  crownsPath: string;
  summary: SceneSummary;
}

type Log = (message: string) => void;
const defaultLog: Log = (m) => console.log(`[demo] ${m}`);

function describe(dir: string, summary: SceneSummary): DemoScene {
  return {
    dir,
    imagePath: join(dir, summary.files.image),
    chmTruthPath: join(dir, summary.files.chm),
    treesPath: join(dir, summary.files.trees),
    crownsPath: join(dir, summary.files.crowns ?? 'crowns.geojson'),
    summary,
  };
}

/** The cached scene in `dir` when it was made by this scene version with the demo's parameters. */
async function cached(dir: string, d: DemoParams): Promise<SceneSummary | null> {
  try {
    const s = JSON.parse(await readFile(join(dir, 'scene.json'), 'utf8')) as SceneSummary;
    const same = s.version === SCENE_VERSION && s.seed === d.seed && s.preset === d.preset && s.gsd === d.gsd && s.grid?.width === d.width && s.grid?.height === d.height;
    return same ? s : null;
  } catch {
    return null;
  }
}

const inFlight = new Map<string, Promise<DemoScene>>();

/**
 * Generates the demo scene under varDir/demo once; later calls (and restarts) reuse it. `params`
 * exists for tests (a smaller scene); the product always uses DEMO_SCENE.
 */
export function ensureDemoScene(varDir: string, log: Log = defaultLog, params: DemoParams = DEMO_SCENE): Promise<DemoScene> {
  const dir = join(varDir, 'demo');
  let p = inFlight.get(dir);
  if (!p) {
    p = build(varDir, dir, log, params).finally(() => inFlight.delete(dir));
    inFlight.set(dir, p);
  }
  return p;
}

async function build(varDir: string, dir: string, log: Log, params: DemoParams): Promise<DemoScene> {
  const existing = await cached(dir, params);
  if (existing) return describe(dir, existing);
  await mkdir(varDir, { recursive: true });
  const tmp = await mkdtemp(join(varDir, '.demo-tmp-'));
  const started = Date.now();
  log(`generating the demo scene (${params.width}x${params.height} px at ${params.gsd} m, seed ${params.seed}), once; it is cached in ${dir}`);
  try {
    let lastTenth = -1;
    // Off the main thread: the server keeps answering while the scene renders.
    await generateSceneOffThread({
      ...params,
      out: tmp,
      onProgress: (done, total) => {
        const tenth = Math.floor((10 * done) / total);
        if (tenth !== lastTenth) log(`scene ${tenth * 10}%`);
        lastTenth = tenth;
      },
    });
    // Swap in atomically: an old or partial scene is moved aside first, then removed.
    const old = `${dir}.old-${process.pid}-${Date.now()}`;
    await rename(dir, old).catch(() => undefined);
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another process won the race: use its scene when it is complete.
      const theirs = await cached(dir, params);
      if (!theirs) throw err;
    }
    await rm(old, { recursive: true, force: true });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const summary = await cached(dir, params);
  if (!summary) throw new Error(`demo scene in ${dir} is incomplete after generation`);
  log(`demo scene ready: ${summary.counts.trees} trees, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return describe(dir, summary);
}

export interface DemoEntries {
  image: CatalogEntry;
  chmTruth: CatalogEntry;
}

/** Registers the demo image (id 'demo') and its true CHM (id 'demo-chm-truth'). */
export async function registerDemo(ctx: AppContext, demo: DemoScene): Promise<DemoEntries> {
  const image = await ctx.catalog.register(demo.imagePath, { id: DEMO_IDS.image, role: 'image' });
  const chmTruth = await ctx.catalog.register(demo.chmTruthPath, { id: DEMO_IDS.chmTruth, role: 'chm' });
  return { image, chmTruth };
}

/**
 * A stage run on the demo at first start, after registration (canopy height, then trees). Owners
 * of those capabilities add theirs to `demoStages`; each should be idempotent (cached results are
 * fine) and report progress through `log`.
 */
export interface DemoStage {
  name: string;
  run(ctx: AppContext, demo: DemoScene, entries: DemoEntries, log: Log): Promise<void>;
}

export const demoStages: DemoStage[] = [canopyDemoStage, treesDemoStage];

/** Runs `demoStages` in order; a failing stage is logged and stops the chain, never the server. */
export async function runDemoStages(ctx: AppContext, demo: DemoScene, entries: DemoEntries, log: Log = defaultLog, stages: DemoStage[] = demoStages): Promise<void> {
  for (const stage of stages) {
    const started = Date.now();
    log(`${stage.name}: starting`);
    try {
      await stage.run(ctx, demo, entries, (m) => log(`${stage.name}: ${m}`));
      log(`${stage.name}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      log(`${stage.name}: failed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
  }
}

/**
 * What `serve` calls when config.demo is set: generate (or reuse) the scene, register it, then
 * start the demo stages in the background. Resolves once the rasters are registered.
 */
export async function bootstrapDemo(ctx: AppContext, log: Log = defaultLog): Promise<{ demo: DemoScene; entries: DemoEntries; stages: Promise<void> }> {
  const demo = await ensureDemoScene(ctx.config.varDir, log);
  const entries = await registerDemo(ctx, demo);
  log(`registered '${entries.image.id}' (image) and '${entries.chmTruth.id}' (true canopy height)`);
  const stages = runDemoStages(ctx, demo, entries, log);
  return { demo, entries, stages };
}
