/**
 * Pure pixel preparation for a model: optional percentile matching (Meta's aerial-to-satellite
 * colour remap) and the manifest's normalisation into one NCHW float32 plane set.
 */
import { InvalidInputError } from '../errors.ts';
import type { ModelInput, PercentileMatch, Rgb } from './manifest.ts';

/** numpy.percentile (method 'linear') of the values where mask is 1 (all when mask is null). NaN when none. */
export function percentiles(values: Float32Array, qs: readonly number[], mask: Uint8Array | null = null): number[] {
  let n = 0;
  const sorted = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if ((mask === null || mask[i]) && !Number.isNaN(v)) sorted[n++] = v;
  }
  const s = sorted.subarray(0, n).sort();
  return qs.map((q) => {
    if (n === 0) return NaN;
    const pos = (q / 100) * (n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, n - 1);
    return s[lo] + (s[hi] - s[lo]) * (pos - lo);
  });
}

/** One band's percentile remap: y = (x - lo) * gain + low, in the [0,1] scale. */
export interface BandRemap {
  lo: number;
  gain: number;
  low: number;
}

/**
 * The remap that puts a band's own low/high percentiles (lo, hi) on match.target's values for
 * channel c; a flat band (lo == hi) is only shifted, a band without data (NaN) is left as is.
 */
export function percentileRemap(lo: number, hi: number, match: PercentileMatch, c: number): BandRemap {
  const [lowTarget, highTarget] = match.target;
  if (Number.isNaN(lo)) return { lo: 0, gain: 1, low: 0 };
  const gain = hi > lo ? (highTarget[c] - lowTarget[c]) / (hi - lo) : 1;
  return { lo, gain, low: lowTarget[c] };
}

/** Applies a remap to a band (new array; values are not clipped, as a plain linear remap). */
export function applyRemap(band: Float32Array, r: BandRemap): Float32Array {
  const out = new Float32Array(band.length);
  for (let i = 0; i < band.length; i++) out[i] = (band[i] - r.lo) * r.gain + r.low;
  return out;
}

/**
 * Linearly remaps each band (values already in the [0,1] scale) so that its own low/high
 * percentiles land on match.target's low/high values, as Meta's inference.py does for aerial
 * imagery before normalising. Returns new bands; a flat band (low == high) is only shifted.
 */
export function percentileMatch(bands: readonly Float32Array[], match: PercentileMatch, mask: Uint8Array | null = null): Float32Array[] {
  if (bands.length !== 3) throw new InvalidInputError(`percentile matching needs 3 bands (R,G,B), got ${bands.length}`);
  return bands.map((band, c) => {
    const [lo, hi] = percentiles(band, match.percentiles, mask);
    return applyRemap(band, percentileRemap(lo, hi, match, c));
  });
}

/**
 * Builds the model's NCHW input for one tile from R,G,B planes of stored pixel values:
 * x = (v*scale - mean) / std, each step rounded to float32 as torchvision's ToTensor + Normalize do.
 * `prescaled` means the planes are already in the [0,1] scale (e.g. after percentileMatch).
 */
export function normaliseTile(bands: readonly Float32Array[], input: Pick<ModelInput, 'scale' | 'mean' | 'std'>, out?: Float32Array, prescaled = false): Float32Array {
  if (bands.length !== 3) throw new InvalidInputError(`a model tile needs 3 bands (R,G,B), got ${bands.length}`);
  const n = bands[0].length;
  const dst = out ?? new Float32Array(3 * n);
  if (dst.length < 3 * n) throw new InvalidInputError(`output buffer holds ${dst.length} values, needs ${3 * n}`);
  const scale = Math.fround(input.scale);
  // uint8/255 is a float32 division in ToTensor; scale=1/255 as a multiply can differ by 1 ulp, so divide when it is a reciprocal.
  const inv = Math.round(1 / input.scale);
  const divide = Math.abs(1 / input.scale - inv) < 1e-9 * inv;
  for (let c = 0; c < 3; c++) {
    const band = bands[c];
    if (band.length !== n) throw new InvalidInputError('bands differ in length');
    const mean = Math.fround((input.mean as Rgb)[c]);
    const std = Math.fround((input.std as Rgb)[c]);
    const base = c * n;
    for (let i = 0; i < n; i++) {
      const x = prescaled ? Math.fround(band[i]) : divide ? Math.fround(band[i] / inv) : Math.fround(band[i] * scale);
      dst[base + i] = Math.fround(Math.fround(x - mean) / std);
    }
  }
  return dst;
}

/**
 * How stored pixel values become model input beyond the manifest's scale/mean/std, fixed once per
 * raster (server/chm/input.stats.ts): a gain for imagery that is not 8-bit, and Meta's aerial
 * percentile remap per band (computed over the whole image, as Meta does per image).
 */
export interface InputAdjustment {
  /** Stored values are multiplied by this first (1 for 8-bit imagery). */
  valueGain: number;
  /** Per band (R, G, B) remap in the [0,1] scale, or null. */
  remap: BandRemap[] | null;
}

export const NO_ADJUSTMENT: InputAdjustment = { valueGain: 1, remap: null };

/**
 * The model's NCHW input for one tile of stored R,G,B values with the raster's adjustment: the
 * one per-pixel implementation (the engine's float path, and the byte table below).
 */
export function prepareTile(bands: readonly Float32Array[], input: Pick<ModelInput, 'scale' | 'mean' | 'std'>, adj: InputAdjustment, out?: Float32Array): Float32Array {
  let planes = bands;
  if (adj.valueGain !== 1) planes = planes.map((b) => b.map((v) => v * adj.valueGain));
  if (!adj.remap) return normaliseTile(planes, input, out);
  const remap = adj.remap;
  const scaled = planes.map((b, c) => applyRemap(b.map((v) => v * input.scale), remap[c]));
  return normaliseTile(scaled, input, out, true);
}

/**
 * prepareTile's value for every byte 0..255, per channel, the channels end to end (channel c's
 * byte v at c * 256 + v): byte imagery is then prepared by lookup, bit for bit what prepareTile
 * gives (the table is built by prepareTile itself).
 */
export function normalisationTable(input: Pick<ModelInput, 'scale' | 'mean' | 'std'>, adj: InputAdjustment = NO_ADJUSTMENT): Float32Array {
  const ramp = Float32Array.from({ length: 256 }, (_, v) => v);
  return prepareTile([ramp, ramp, ramp], input, adj);
}

/**
 * A height x width window of one byte band through its table, into `out` from `outBase`: the
 * window's rows lie `stride` apart in `src` from `srcBase`, and byte v becomes lut[lutBase + v].
 * The byte path's one lookup: the engine's tiles with nodata, the model thread's runBytes. Its own
 * small function so that V8 optimises the loop on its own (inside the async prepareBatch it ran
 * about half as fast).
 */
export function lookupWindow(out: Float32Array, outBase: number, src: Uint8Array, srcBase: number, stride: number, height: number, width: number, lut: Float32Array, lutBase: number): void {
  for (let ty = 0; ty < height; ty++) {
    const from = srcBase + ty * stride, to = outBase + ty * width;
    for (let tx = 0; tx < width; tx++) out[to + tx] = lut[lutBase + src[from + tx]];
  }
}
