/**
 * The per-raster part of preparing model input, fixed once from the whole image so that every
 * tile (and every job block) is prepared alike:
 *  - imagery that is not 8-bit (uint16, float) is brought to the 0..255 range the models were
 *    trained on by one gain for all bands (colour balance kept): 255 / the highest band's 99.5th
 *    percentile, when that exceeds 255, or when float imagery lies within 0..1 (reflectance);
 *  - Meta's aerial percentile matching (manifest input.percentileMatch) uses each band's
 *    percentiles over the whole image, as Meta's inference.py computes them per image, not per tile.
 * Statistics come from the raster read onto a grid of at most SAMPLE_SIDE pixels a side (nearest,
 * from the overview that fits), so they cost one small read whatever the raster's size.
 */
import type { Grid } from '../raster/types.ts';
import type { LoadedManifest, PercentileMatch } from '../model/manifest.ts';
import { NO_ADJUSTMENT, percentileRemap, percentiles, type InputAdjustment } from '../model/preprocess.ts';
import type { ChmSource } from './engine.ts';

export const SAMPLE_SIDE = 1024;
/** Percentile of the brightest band that a non-8-bit raster's gain maps to 255. */
export const STRETCH_PERCENTILE = 99.5;

/** Whether the manifest's percentile matching applies to this run. */
export function matchApplies(manifest: LoadedManifest, aerial: boolean): boolean {
  const match = manifest.input.percentileMatch;
  return !!match && (match.when === 'always' || ((match.when ?? 'aerial') === 'aerial' && aerial));
}

/** The whole raster on a grid of at most `side` pixels a side (the source grid when it fits). */
export function sampleGrid(grid: Grid, side = SAMPLE_SIDE): Grid {
  const f = Math.max(grid.width, grid.height) / side;
  if (f <= 1) return grid;
  const t = grid.transform;
  const width = Math.max(1, Math.round(grid.width / f)), height = Math.max(1, Math.round(grid.height / f));
  const fx = grid.width / width, fy = grid.height / height;
  return { width, height, transform: [t[0], t[1] * fx, t[2] * fy, t[3], t[4] * fx, t[5] * fy], crs: grid.crs };
}

/**
 * The adjustment for a raster and model. 8-bit imagery without matching needs no read at all
 * (the common case); otherwise one sampled read of the whole raster.
 */
export function inputAdjustment(source: ChmSource, manifest: LoadedManifest, aerial: boolean): Promise<InputAdjustment> {
  const bytes = source.metadata?.sampleType === 'uint8' && !source.metadata.bandScaling;
  const match = matchApplies(manifest, aerial) ? manifest.input.percentileMatch! : null;
  if (bytes && !match) return Promise.resolve(NO_ADJUSTMENT);
  // once per open raster (openRaster shares one source per file version): every CHM block of a
  // job asks for the whole raster's adjustment, and must not read the sample again each time
  let bySource = computed.get(source);
  if (!bySource) computed.set(source, (bySource = new Map()));
  // all the adjustment depends on besides the raster
  const key = JSON.stringify([manifest.input.scale, match]);
  let p = bySource.get(key);
  if (!p) {
    p = measure(source, manifest.input.scale, bytes, match);
    bySource.set(key, p);
    p.catch(() => bySource!.delete(key));
  }
  return p;
}

const computed = new WeakMap<ChmSource, Map<string, Promise<InputAdjustment>>>();

async function measure(source: ChmSource, scale: number, bytes: boolean, match: PercentileMatch | null): Promise<InputAdjustment> {
  // scaled values are read as floats too (reflectance stored as uint16 x 10000 with scale 1e-4)
  const float = source.metadata?.sampleType === 'float32' || source.metadata?.sampleType === 'float64' || !!source.metadata?.bandScaling;
  const sample = await source.readGrid(sampleGrid(source.grid), { resampling: 'nearest' });
  const bands = sample.bands.slice(0, 3);
  let valueGain = 1;
  if (!bytes) {
    const high = Math.max(...bands.map((b) => percentiles(b, [STRETCH_PERCENTILE], sample.mask)[0]).filter((v) => Number.isFinite(v)), 0);
    // float reflectance (0..1) would otherwise reach the model as near-black 8-bit values
    const unitFloat = float && high > 0 && high <= 1;
    if (high > 255 || unitFloat) valueGain = 255 / high;
  }
  if (!match) return { valueGain, remap: null };
  const remap = bands.map((b, c) => {
    // the values prepareTile remaps: gained, then in the [0,1] scale (float32, as there)
    const scaled = b.map((v) => (valueGain === 1 ? v : Math.fround(v * valueGain)) * scale);
    const [lo, hi] = percentiles(scaled, match.percentiles, sample.mask);
    return percentileRemap(lo, hi, match, c);
  });
  return { valueGain, remap };
}
