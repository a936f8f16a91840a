import { numberFlag, outputFileFlag, parseFlags, requireFlag } from './args.ts';
import { UsageError } from './main.ts';
import { openRaster } from '../raster/source.ts';
import { detectTreesTiled } from '../trees/tiled.ts';
import { DEFAULT_WS, parseWindowSize } from '../trees/window.expression.ts';
import { formatBar } from '../chm/progress.ts';
import { TreeFeatures, flatCrown } from '../features/geojson.ts';
import { GeoJsonFileWriter } from '../jobs/geojson.export.ts';
import type { CrownAlgorithm, SmoothOptions, TreeOptions } from '../trees/types.ts';
import { CancelledError, InvalidInputError } from '../errors.ts';
import { assertHeightsAboveGround } from '../chm/heights.check.ts';
import { unitScale } from '../trees/detect.ts';

export const usage = `forestmap trees --chm CHM.tif --out trees.geojson [options]

Finds every tree in a canopy height model (GeoTIFF, metres, projected CRS): tops by local maximum
filter (lidR lmf), crowns by Dalponte 2016, Silva 2016 or a marker-controlled watershed. Writes
tree tops as WGS84 GeoJSON points (properties id, height_m, crown_area_m2, crown_diameter_m) and,
with --crowns, crown polygons. Large rasters are processed in tiles with halos; the result is
identical to processing the raster whole.

  --chm FILE          canopy height model GeoTIFF
  --out FILE          tree tops GeoJSON
  --crowns FILE       crown polygons GeoJSON
  --algorithm A       dalponte (default) | silva | watershed
  --ws W              lmf window diameter in metres: a number or an expression of the
                      height h (default '0.07*h+3', lidR's variable window; numbers, h, + - * / ^, min max sqrt exp log abs)
  --hmin H            minimum tree height, m (default 2)
  --shape S           circular (default) | square
  --smooth S          none (default) | mean3 | median3 | mean5 | median5 | gaussian1 | gaussian2 ...
  --th-tree, --th-seed, --th-cr, --max-cr    dalponte2016 (defaults 2, 0.45, 0.55, 10 pixels)
  --max-cr-factor, --exclusion               silva2016 (defaults 0.6, 0.3)
  --simplify PX       crown simplification tolerance in pixels (default 0.5; 0 = exact pixel edges)
  --tile N            tile size in pixels (default 512)
  --halo N            halo pixels (default: computed from the options)`;

export const treeFlagSpec = {
  algorithm: { type: 'string' },
  ws: { type: 'string' },
  hmin: { type: 'string' },
  shape: { type: 'string' },
  smooth: { type: 'string' },
  'th-tree': { type: 'string' },
  'th-seed': { type: 'string' },
  'th-cr': { type: 'string' },
  'max-cr': { type: 'string' },
  'max-cr-factor': { type: 'string' },
  exclusion: { type: 'string' },
  simplify: { type: 'string' },
} as const;

export function parseSmooth(text: string | undefined): SmoothOptions | null {
  if (!text || text === 'none') return null;
  const m = /^(mean|median|gaussian)(\d+(?:\.\d+)?)?$/.exec(text);
  if (!m) throw new UsageError(`--smooth must be none, meanN, medianN or gaussianS (e.g. median3, gaussian1), got '${text}'`);
  const n = m[2] === undefined ? undefined : Number(m[2]);
  if (m[1] === 'gaussian') {
    if (n !== undefined && !(n > 0 && n <= 10)) throw new UsageError('--smooth gaussianS needs 0 < S <= 10 pixels');
    return { method: 'gaussian', sigma: n ?? 1 };
  }
  if (n !== undefined && !(Number.isInteger(n) && n % 2 === 1 && n <= 31)) throw new UsageError('--smooth meanN/medianN needs an odd N <= 31');
  return { method: m[1] as 'mean' | 'median', size: n ?? 3 };
}

/** The tree options named by the shared flags (also used by eval-crowns). */
export function treeOptionsFromFlags(v: Record<string, string | boolean | undefined>): TreeOptions {
  const s = (k: string) => v[k] as string | undefined;
  const algorithm = (s('algorithm') ?? 'dalponte') as CrownAlgorithm;
  if (!['dalponte', 'silva', 'watershed'].includes(algorithm)) throw new UsageError(`--algorithm must be dalponte, silva or watershed, got '${algorithm}'`);
  const shape = s('shape') ?? 'circular';
  if (shape !== 'circular' && shape !== 'square') throw new UsageError(`--shape must be circular or square, got '${shape}'`);
  let ws: TreeOptions['ws'];
  try { ws = parseWindowSize(s('ws') ?? DEFAULT_WS); } catch (err) {
    if (err instanceof InvalidInputError) throw new UsageError(`--ws: ${err.message}`);
    throw err;
  }
  return {
    algorithm, ws, shape,
    hmin: numberFlag(s('hmin'), 'hmin', 2, 0, 200),
    smooth: parseSmooth(s('smooth')),
    thTree: numberFlag(s('th-tree'), 'th-tree', 2, 0, 200),
    thSeed: numberFlag(s('th-seed'), 'th-seed', 0.45, 0, 1),
    thCr: numberFlag(s('th-cr'), 'th-cr', 0.55, 0, 1),
    maxCr: numberFlag(s('max-cr'), 'max-cr', 10, 1, 1000),
    maxCrFactor: numberFlag(s('max-cr-factor'), 'max-cr-factor', 0.6, 0.01, 5),
    exclusion: numberFlag(s('exclusion'), 'exclusion', 0.3, 0, 1),
    simplify: numberFlag(s('simplify'), 'simplify', 0.5, 0, 10),
  };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    chm: { type: 'string' }, out: { type: 'string' }, crowns: { type: 'string' },
    tile: { type: 'string' }, halo: { type: 'string' }, ...treeFlagSpec,
  });
  const chmPath = requireFlag(values.chm, 'chm');
  const outPath = outputFileFlag(values.out, 'out');
  const crownsPath = values.crowns === undefined ? undefined : outputFileFlag(values.crowns, 'crowns');
  const opts = treeOptionsFromFlags(values);
  const tileSize = numberFlag(values.tile, 'tile', 512, 16, 8192);
  const halo = values.halo === undefined ? undefined : numberFlag(values.halo, 'halo', 0, 0, 4096);
  const source = await openRaster(chmPath);
  const { bandCount, sampleType } = source.metadata;
  if (sampleType === 'uint8' && bandCount >= 3) {
    throw new InvalidInputError(`${chmPath} looks like an RGB image (${bandCount} uint8 bands), not a canopy height model: compute one first ('forestmap canopy', or 'forestmap chm' from a point cloud)`);
  }
  await assertHeightsAboveGround(source, chmPath, unitScale(source.grid.crs));
  const features = new TreeFeatures(source.grid.crs);

  // the jobs' GeoJSON file writer: a temporary renamed into place when complete, so a failed or
  // interrupted run leaves no truncated GeoJSON, and no earlier file half overwritten
  const tops = new GeoJsonFileWriter(outPath);
  const crowns = crownsPath ? new GeoJsonFileWriter(crownsPath) : null;
  const files = crowns ? [tops, crowns] : [tops];
  const t0 = performance.now();
  let lastPct = -1;
  let result: Awaited<ReturnType<typeof detectTreesTiled>>;
  // Ctrl-C stops between tiles, so the partial files go with the rest of a failed run
  const controller = new AbortController();
  const onSignal = () => controller.abort(new CancelledError(`cancelled: ${files.map((f) => f.path).join(' and ')} not written`));
  process.once('SIGINT', onSignal);
  try {
    result = await detectTreesTiled(source, {
      ...opts, tileSize: Math.round(tileSize), halo: halo === undefined ? undefined : Math.round(halo), polygons: !!crowns, signal: controller.signal,
      onTile: async (trees, polys) => {
        for (let k = 0; k < trees.length; k++) {
          const tree = trees[k], crown = polys[k];
          await tops.add((out) => { features.writePoint(out, tree); return true; });
          if (crowns && crown?.length) await crowns.add((out) => features.writeCrown(out, tree, flatCrown(crown)));
        }
      },
    }, (done, total) => {
      const pct = Math.floor((100 * done) / total);
      if (pct !== lastPct && process.stderr.isTTY) process.stderr.write(`\rtrees ${formatBar(done / total, 30)}`);
      lastPct = pct;
    });
    for (const f of files) await f.finish();
  } catch (err) {
    for (const f of files) f.abandon();
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  const secs = (performance.now() - t0) / 1000;
  const { width, height } = result.grid;
  console.log(`${tops.featureCount} trees${crowns ? `, ${crowns.featureCount} crowns` : ''} from ${width}x${height} px in ${secs.toFixed(2)} s (${opts.algorithm}, ws ${typeof opts.ws === 'number' ? opts.ws : (values.ws ?? DEFAULT_WS)}, hmin ${opts.hmin})`);
  return 0;
}
