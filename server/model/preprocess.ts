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

/**
 * Linearly remaps each band (values already in the [0,1] scale) so that its own low/high
 * percentiles land on match.target's low/high values, as Meta's inference.py does for aerial
 * imagery before normalising. Returns new bands; a flat band (low == high) is only shifted.
 * Values are not clipped, matching a plain linear remap.
 */
export function percentileMatch(bands: readonly Float32Array[], match: PercentileMatch, mask: Uint8Array | null = null): Float32Array[] {
  if (bands.length !== 3) throw new InvalidInputError(`percentile matching needs 3 bands (R,G,B), got ${bands.length}`);
  const [lowTarget, highTarget] = match.target;
  return bands.map((band, c) => {
    const [lo, hi] = percentiles(band, match.percentiles, mask);
    const out = new Float32Array(band.length);
    if (Number.isNaN(lo)) {
      out.set(band);
      return out;
    }
    const gain = hi > lo ? (highTarget[c] - lowTarget[c]) / (hi - lo) : 1;
    for (let i = 0; i < band.length; i++) out[i] = (band[i] - lo) * gain + lowTarget[c];
    return out;
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
 * normaliseTile's value for every byte 0..255, per channel: byte imagery is then normalised by
 * lookup, bit for bit what normaliseTile gives (the table is built by normaliseTile itself).
 */
export function normalisationTable(input: Pick<ModelInput, 'scale' | 'mean' | 'std'>): Float32Array[] {
  const ramp = Float32Array.from({ length: 256 }, (_, v) => v);
  const out = normaliseTile([ramp, ramp, ramp], input);
  return [out.subarray(0, 256), out.subarray(256, 512), out.subarray(512, 768)];
}
