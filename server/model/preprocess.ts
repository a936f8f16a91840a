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
  for (let c = 0; c < 3; c++) {
    const band = bands[c];
    if (band.length !== n) throw new InvalidInputError('bands differ in length');
    const mean = Math.fround((input.mean as Rgb)[c]);
    const std = Math.fround((input.std as Rgb)[c]);
    const base = c * n;
    for (let i = 0; i < n; i++) {
      // uint8/255 is a float32 division in ToTensor; scale=1/255 as a multiply can differ by 1 ulp, so divide when it is a reciprocal.
      const x = prescaled ? Math.fround(band[i]) : scaleValue(band[i], scale, input.scale);
      dst[base + i] = Math.fround(Math.fround(x - mean) / std);
    }
  }
  return dst;
}

function scaleValue(v: number, scale32: number, scale: number): number {
  const inv = Math.round(1 / scale);
  return Math.abs(1 / scale - inv) < 1e-9 * inv ? Math.fround(v / inv) : Math.fround(v * scale32);
}
