import { readFileSync, rmSync } from 'node:fs';
import { makeDirectory } from '../fs.dirs.ts';
import { lockFolder } from '../fs.lock.ts';
import { basename, join, resolve } from 'node:path';
import { parseFlags, numberFlag, requireFlag } from './args.ts';
import { UsageError } from './main.ts';
import { InvalidInputError } from '../errors.ts';
import { formatBar } from '../chm/progress.ts';
import { JobStore } from '../jobs/store.ts';
import { SqliteWorkQueue } from '../jobs/queue.ts';
import { parseExecuteRequest } from '../jobs/process.forest-map.ts';
import { DEFAULT_BLOCK_SIZE, DEFAULT_TILE_SIZE, fileVersion, planForestMap, runForestMap } from '../jobs/pipeline.ts';
import { defaultResources, executeUnit, type RasterRef, type UnitSpec } from '../jobs/units.ts';

export const usage = `forestmap process (--image RGB.tif | --chm CHM.tif) [--region region.geojson] [--model M] --out DIR
                  [--algorithm dalponte|silva|watershed] [--ws M|EXPR] [--hmin M]
                  [--tile-size PX] [--block-size PX] [--quiet]

Runs the region pipeline without a server (the same code as the forest-map job) and writes:
  DIR/chm.tif          the region's canopy height model (float32 COG, metres; nodata outside the region)
  DIR/trees.geojson    tree tops (RFC 7946, WGS84): id, height_m, crown_area_m2, crown_diameter_m
  DIR/crowns.geojson   crown polygons with the same properties
  DIR/stats.json       area (ha), its share with data, canopy cover > 2 m and > 5 m, tree count, trees/ha, heights, histogram;
                       for a FeatureCollection region of several features, also each feature's ("parts")
--image runs the canopy height model (--model: a registered name or a model directory; default:
the default model). --chm takes an existing CHM (e.g. from lidar) and skips inference.
--region: a GeoJSON Polygon / MultiPolygon / Feature / FeatureCollection in WGS84; default: the
whole raster. Trees belong to the region when their top lies in it.
--tile-size: trees tile (CHM pixels, default ${DEFAULT_TILE_SIZE}); --block-size: canopy height block
(model-grid pixels, default ${DEFAULT_BLOCK_SIZE}). Results do not depend on either.
Unit outputs are kept in DIR/.work until the run completes, so re-running an interrupted run resumes it.`;

/** A region file's GeoJSON (geometry, Feature or FeatureCollection: parseRegion takes each). */
export function readRegionFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    // JSON.parse quotes the start of the text, line breaks and all
    const why = (err as Error).message.replace(/\s+/g, ' ');
    const hint = err instanceof SyntaxError ? ' (it must be GeoJSON in WGS84: convert a shapefile or KML with ogr2ogr -f GeoJSON -t_srs EPSG:4326 region.geojson IN)' : '';
    throw new InvalidInputError(`cannot read region file ${path}: ${why}${hint}`);
  }
}

function rasterRef(path: string, role: RasterRef['role']): RasterRef {
  const abs = resolve(path);
  const version = fileVersion(abs);
  if (version === null) throw new UsageError(`no such file: ${path}`);
  return { id: basename(abs).replace(/\.[^.]+$/, '').toLowerCase().replace(/[^a-z0-9_-]+/g, '-') || 'raster', path: abs, version, role };
}

function progressBar(quiet: boolean) {
  let last = '';
  let lastPercent = -1;
  const tty = process.stderr.isTTY;
  return (fraction: number, message: string) => {
    if (quiet) return;
    const percent = Math.floor(fraction * 100);
    // a log file gets one line per percent, a terminal a redrawn bar
    if (!tty && percent === lastPercent) return;
    lastPercent = percent;
    const line = `${formatBar(fraction, 30)} ${message}`;
    if (line === last) return;
    last = line;
    process.stderr.write(tty ? `\r${line.padEnd(80)}` : `${line}\n`);
  };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    image: { type: 'string' },
    chm: { type: 'string' },
    region: { type: 'string' },
    model: { type: 'string' },
    out: { type: 'string' },
    algorithm: { type: 'string' },
    ws: { type: 'string' },
    hmin: { type: 'string' },
    'tile-size': { type: 'string' },
    'block-size': { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  });
  const out = resolve(requireFlag(values.out, 'out'));
  if (!values.image === !values.chm) throw new UsageError('give exactly one of --image RGB.tif or --chm CHM.tif');
  const raster = values.image ? rasterRef(values.image, 'image') : rasterRef(values.chm!, 'chm');
  const inputs: Record<string, unknown> = { raster: raster.id };
  if (values.region) inputs.region = readRegionFile(values.region);
  if (values.model) inputs.model = values.model;
  if (values.algorithm) inputs.algorithm = values.algorithm;
  if (values.ws) inputs.ws = Number.isFinite(Number(values.ws)) ? Number(values.ws) : values.ws;
  if (values.hmin) inputs.hmin = numberFlag(values.hmin, 'hmin', 2, 0, 100);
  const tileSize = numberFlag(values['tile-size'], 'tile-size', DEFAULT_TILE_SIZE, 16, 8192);
  const blockSize = numberFlag(values['block-size'], 'block-size', DEFAULT_BLOCK_SIZE, 16, 16384);
  const request = parseExecuteRequest({ inputs });
  const plan = await planForestMap(request, {
    resolveRaster: () => raster,
    regionLimits: { maxAreaKm2: Number(process.env.REGION_MAX_KM2 ?? 10000), maxVertices: 1_000_000 },
    allowModelPaths: true,
    tileSize: Math.round(tileSize),
    blockSize: Math.round(blockSize),
  });

  makeDirectory(out);
  // unit outputs live beside the results while running, so a re-run after a crash reuses them
  const work = join(out, '.work');
  makeDirectory(work);
  // two runs into one folder would remove each other's work as they finish
  const lock = lockFolder(work, 'run', `--out ${out}`, 'another forestmap process run');
  const store = new JobStore(join(work, 'units.sqlite'));
  const pathOf = (key: string) => queue.resultPath(key);
  const resources = defaultResources(pathOf);
  const queue = new SqliteWorkQueue<UnitSpec>(store, join(work, 'units'), (u, p, s, f) => executeUnit(u, p, s, resources, f));
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  const started = performance.now();
  try {
    const summary = await runForestMap({ plan, queue, pathOf, outDir: out, jobId: 'cli', signal: controller.signal, progress: progressBar(values.quiet ?? false) });
    if (!values.quiet && process.stderr.isTTY) process.stderr.write('\n');
    const s = summary.statistics;
    const coverage = s.data_coverage !== null && s.data_coverage < 0.995 ? `, ${(s.data_coverage * 100).toFixed(1)}% of it with data` : '';
    // a garden-sized region reads "0.00 ha" in hectares
    const area = s.area_ha < 0.1 ? `${Number((s.area_ha * 10_000).toPrecision(3))} m²` : `${s.area_ha.toFixed(2)} ha`;
    process.stdout.write(`${s.tree_count} ${s.tree_count === 1 ? 'tree' : 'trees'} in ${area}${coverage} (${s.trees_per_ha.toFixed(1)}/ha); canopy cover >2 m ${s.canopy_cover_2m === null ? 'n/a' : (s.canopy_cover_2m * 100).toFixed(1) + '%'}; ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s. Wrote ${Object.values(summary.outputs).map((p) => basename(p!)).join(', ')} to ${out}\n`);
    if (s.parts && summary.outputs.stats) process.stdout.write(`The statistics of each of the region's ${s.parts.length} features are in stats.json, under "parts".\n`);
  } catch (err) {
    if (!controller.signal.aborted) throw err;
    // Ctrl-C: what finished is kept, and the user should know the same command picks it up
    if (!values.quiet && process.stderr.isTTY) process.stderr.write('\n');
    process.stderr.write(`forestmap process: interrupted. Finished blocks and tiles are kept in ${work}; the same command resumes from them.\n`);
    return 130;
  } finally {
    process.off('SIGINT', stop);
    store.close();
    lock.release();
  }
  rmSync(work, { recursive: true, force: true });
  return 0;
}
