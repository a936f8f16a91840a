/**
 * `generateScene`: a synthetic forest written strip by strip. One render per strip feeds two
 * COG writers (image.tif, chm.tif) and the tree GeoJSON, so memory is a few strips whatever the
 * scene size, and the files agree with each other by construction.
 */
import { writeFile } from 'node:fs/promises';
import { makeDirectory } from '../fs.dirs.ts';
import { join } from 'node:path';
import { writeCog } from '../raster/cog.writer.ts';
import type { Crs, Grid, Window } from '../raster/types.ts';
import { InvalidInputError } from '../errors.ts';
import { makeLandscape } from './landscape.ts';
import { PRESETS, PRESET_NAMES } from './presets.ts';
import { renderStrip, type RenderedStrip, type SceneRaster, type Sun } from './render.ts';
import { TreeVectorWriter } from './vectors.ts';
import { topClearanceFor } from './trees.ts';

/** Bumped whenever the same seed would render differently: caches keyed on it regenerate. */
export const SCENE_VERSION = 1;

/** WGS 84 / UTM zone 10N: the scene origin lies in the Willamette National Forest, Oregon Cascades. */
export const SCENE_CRS: Crs = { epsg: 32610, proj4: '+proj=utm +zone=10 +datum=WGS84 +units=m +no_defs +type=crs', name: 'WGS 84 / UTM zone 10N', units: 'm' };
export const SCENE_ORIGIN = { x: 560000, y: 4900000 };
/** Mid-morning summer sun at 44° N, from the south-east. */
export const SCENE_SUN: Sun = { azimuthDeg: 140, elevationDeg: 52 };

export const LIMITS = { minSize: 16, maxSize: 50000, minGsd: 0.1, maxGsd: 1 };
const TILE = 256;

export interface SceneOptions {
  out: string;
  width: number;
  height: number;
  /** Ground sampling distance, metres per pixel (0.1 to 1). */
  gsd: number;
  seed: number;
  preset: string;
  /** Write crowns.geojson (default true); off for very large benchmark scenes. */
  crowns?: boolean;
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
}

export interface SceneSummary {
  version: number;
  seed: number;
  preset: string;
  gsd: number;
  grid: Grid;
  /** The grid's CRS again, for readers that look for it at the top. */
  crs: Crs;
  sun: Sun;
  counts: { trees: number; conifer: number; broadleaf: number };
  files: { image: string; chm: string; trees: string; crowns: string | null };
  notes: string;
}

export function validateSceneOptions(o: SceneOptions): void {
  for (const [name, v] of [['width', o.width], ['height', o.height]] as const) {
    if (!Number.isInteger(v) || v < LIMITS.minSize || v > LIMITS.maxSize) throw new InvalidInputError(`${name} must be a whole number of pixels in ${LIMITS.minSize}..${LIMITS.maxSize}, got ${v}`);
  }
  if (!Number.isFinite(o.gsd) || o.gsd < LIMITS.minGsd || o.gsd > LIMITS.maxGsd) throw new InvalidInputError(`gsd must be in ${LIMITS.minGsd}..${LIMITS.maxGsd} m, got ${o.gsd}`);
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) throw new InvalidInputError(`seed must be an integer in 0..4294967295, got ${o.seed}`);
  if (!PRESETS[o.preset]) throw new InvalidInputError(`unknown preset '${o.preset}'; presets: ${PRESET_NAMES.join(', ')}`);
}

export function sceneGrid(width: number, height: number, gsd: number): Grid {
  return { width, height, transform: [SCENE_ORIGIN.x, gsd, 0, SCENE_ORIGIN.y, 0, -gsd], crs: SCENE_CRS };
}

/**
 * Hands each rendered strip to several consumers that pull strips in order, rendering each strip
 * once. A consumer that runs ahead waits for the others, so at most two strips are held.
 */
function sharedStrips(consumers: number, render: (index: number) => Promise<RenderedStrip>) {
  const taken = new Array(consumers).fill(0);
  const held = new Map<number, { strip: Promise<RenderedStrip>; left: number }>();
  let waiters: Array<() => void> = [];
  let failure: unknown = null;
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  return {
    async get(consumer: number, index: number): Promise<RenderedStrip> {
      while (taken.some((t) => t < index - 1)) {
        if (failure) throw failure;
        await new Promise<void>((r) => waiters.push(r));
      }
      if (failure) throw failure;
      let entry = held.get(index);
      if (!entry) {
        entry = { strip: render(index), left: consumers };
        held.set(index, entry);
      }
      const strip = await entry.strip;
      if (--entry.left === 0) held.delete(index);
      taken[consumer] = index;
      wake();
      return strip;
    },
    /** A consumer failed: release the others instead of leaving them waiting for it. */
    abort(err: unknown) {
      failure ??= err;
      wake();
    },
  };
}

export async function generateScene(opts: SceneOptions): Promise<SceneSummary> {
  validateSceneOptions(opts);
  const preset = PRESETS[opts.preset];
  const world = { seed: opts.seed >>> 0, preset, landscape: makeLandscape(opts.seed >>> 0, preset), topClearance: topClearanceFor(opts.gsd) };
  const scene: SceneRaster = { world, width: opts.width, height: opts.height, gsd: opts.gsd, sun: SCENE_SUN };
  const grid = sceneGrid(opts.width, opts.height, opts.gsd);
  makeDirectory(opts.out);
  const files = { image: 'image.tif', chm: 'chm.tif', trees: 'trees.geojson', crowns: opts.crowns === false ? null : 'crowns.geojson' };
  const vectors = await TreeVectorWriter.create({
    treesPath: join(opts.out, files.trees),
    crownsPath: files.crowns ? join(opts.out, files.crowns) : null,
    proj4: SCENE_CRS.proj4,
    toNative: (x, y) => [SCENE_ORIGIN.x + x, SCENE_ORIGIN.y - y],
  });

  // Strips start rendering in order (consumers pull in order); the chain keeps the tree
  // features in that order too, so ids are deterministic.
  let vectorChain = Promise.resolve();
  const strip = sharedStrips(2, async (index) => {
    const rows = Math.min(TILE, opts.height - index * TILE);
    const s = renderStrip(scene, index * TILE, rows);
    vectorChain = vectorChain.then(() => vectors.add(s.trees));
    await vectorChain;
    opts.onProgress?.(index * TILE + rows, opts.height);
    return s;
  });
  const indexOf = (w: Window) => w.y / TILE;
  const settle = <T>(p: Promise<T>) => p.catch((err) => (strip.abort(err), Promise.reject(err)));
  try {
    // allSettled: a failing writer releases the other, which then cleans up its temp files.
    const results = await Promise.allSettled([
      settle(writeCog(join(opts.out, files.image), { grid, bands: 3, sampleType: 'uint8', photometric: 'rgb', tileSize: TILE }, async (w) => (await strip.get(0, indexOf(w))).rgb)),
      settle(writeCog(join(opts.out, files.chm), { grid, bands: 1, sampleType: 'float32', tileSize: TILE }, async (w) => [(await strip.get(1, indexOf(w))).chm])),
    ]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  } finally {
    await vectors.close();
  }

  const summary: SceneSummary = {
    version: SCENE_VERSION,
    seed: opts.seed,
    preset: preset.name,
    gsd: opts.gsd,
    grid,
    crs: grid.crs,
    sun: SCENE_SUN,
    counts: vectors.counts,
    files,
    notes: 'chm.tif is the exact canopy surface (max over crowns, each pixel taking the highest crown point over its footprint; ground = 0). trees.geojson lists the trees whose tops are visible from above at this GSD (candidates whose top a taller crown hides are not generated), one point per apex; crowns.geojson holds each crown disc, joined by id.',
  };
  await writeFile(join(opts.out, 'scene.json'), JSON.stringify(summary, null, 2) + '\n');
  return summary;
}
