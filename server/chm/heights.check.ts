/**
 * Heights above ground, or elevations? A DSM or DTM (metres above sea level) has one band of
 * floats as a CHM does, and tree detection would run on it without complaint, finding a handful
 * of "trees" hundreds of metres tall. No canopy stands 100 m above the ground over a whole raster,
 * so when even the raster's 1st percentile is above that, its values are elevations and the user
 * is told how to make a CHM from them. Checked on a sample of the whole raster (at most 1024 px a
 * side, from overviews where they fit), once per open raster.
 */
import { InvalidInputError } from '../errors.ts';
import type { RasterSource } from '../raster/source.ts';
import { percentiles } from '../model/preprocess.ts';
import { sampleGrid } from './input.stats.ts';

/** Above this, a raster's 1st percentile cannot be heights above ground (the tallest trees measured are about 116 m). */
export const MAX_GROUND_PERCENTILE_M = 100;

/** Refuses values that are elevations rather than heights; `first` is the raster's 1st percentile in metres. */
export function checkHeightsAboveGround(first: number, name: string): void {
  if (!(first > MAX_GROUND_PERCENTILE_M)) return;
  throw new InvalidInputError(`${name}: 99% of its values are above ${Number(first.toPrecision(4))} m, higher than any canopy stands above the ground: `
    + 'these are elevations (a DSM or DTM), not canopy heights. A CHM is the surface minus the terrain, e.g. '
    + 'gdal_calc.py -A DSM.tif -B DTM.tif --calc="A-B" --outfile CHM.tif');
}

const firstPercentiles = new WeakMap<RasterSource, Promise<number>>();

/** The raster's 1st percentile of valid values, in the raster's own units; NaN when it holds none. */
export function firstPercentile(source: RasterSource): Promise<number> {
  let p = firstPercentiles.get(source);
  if (!p) {
    p = source.readGrid(sampleGrid(source.grid), { resampling: 'nearest' }).then((s) => percentiles(s.bands[0], [1], s.mask)[0]);
    firstPercentiles.set(source, p);
    p.catch(() => firstPercentiles.delete(source));
  }
  return p;
}

/** The check on a raster given as a CHM, whose values are in units of `metresPerUnit` metres. */
export async function assertHeightsAboveGround(source: RasterSource, name: string, metresPerUnit: number): Promise<void> {
  checkHeightsAboveGround((await firstPercentile(source)) * metresPerUnit, name);
}
