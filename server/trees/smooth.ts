/**
 * Optional CHM smoothing before tops and crowns (lidR users do it with terra::focal): mean or median
 * over a square kernel, or a Gaussian. No-data pixels (NaN) stay NaN and are left out of their
 * neighbours' sums (na.rm = TRUE).
 */
import { InvalidInputError } from '../errors.ts';
import type { SmoothOptions } from './types.ts';

/** Pixels of context a smoothing needs on each side (tiles add it to their halo). */
export function smoothRadius(s: SmoothOptions | null | undefined): number {
  if (!s) return 0;
  if (s.method === 'gaussian') return Math.ceil(3 * (s.sigma ?? 1));
  return ((s.size ?? 3) - 1) >> 1;
}

export function smoothChm(chm: Float32Array, width: number, height: number, s: SmoothOptions): Float32Array {
  if (s.method === 'gaussian') {
    const sigma = s.sigma ?? 1;
    const r = smoothRadius(s);
    const kernel = new Float64Array(2 * r + 1);
    for (let k = -r; k <= r; k++) kernel[k + r] = Math.exp(-(k * k) / (2 * sigma * sigma));
    return separable(chm, width, height, kernel);
  }
  const size = s.size ?? 3;
  if (!(size >= 1 && size % 2 === 1 && size <= 31)) throw new InvalidInputError(`smoothing size must be an odd number of pixels in [1, 31], got ${size}`);
  if (s.method === 'mean') return separable(chm, width, height, new Float64Array(size).fill(1));
  return median(chm, width, height, (size - 1) >> 1);
}

/** Separable weighted mean with NaN-aware normalisation (each pass divides by the weights it used). */
function separable(chm: Float32Array, width: number, height: number, kernel: Float64Array): Float32Array {
  const r = (kernel.length - 1) >> 1;
  const sumH = new Float64Array(width * height), wH = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0, w = 0;
      for (let k = -r; k <= r; k++) {
        const xx = x + k;
        if (xx < 0 || xx >= width) continue;
        const v = chm[y * width + xx];
        if (v === v) { s += v * kernel[k + r]; w += kernel[k + r]; }
      }
      sumH[y * width + x] = s; wH[y * width + x] = w;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (chm[i] !== chm[i]) { out[i] = NaN; continue; }
      let s = 0, w = 0;
      for (let k = -r; k <= r; k++) {
        const yy = y + k;
        if (yy < 0 || yy >= height) continue;
        s += sumH[yy * width + x] * kernel[k + r];
        w += wH[yy * width + x] * kernel[k + r];
      }
      out[i] = w > 0 ? s / w : NaN;
    }
  }
  return out;
}

function median(chm: Float32Array, width: number, height: number, r: number): Float32Array {
  const out = new Float32Array(width * height);
  const buf = new Float64Array((2 * r + 1) ** 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (chm[i] !== chm[i]) { out[i] = NaN; continue; }
      let m = 0;
      for (let dy = -r; dy <= r; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -r; dx <= r; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width) continue;
          const v = chm[yy * width + xx];
          if (v === v) buf[m++] = v;
        }
      }
      const a = buf.subarray(0, m).sort();
      out[i] = m % 2 ? a[m >> 1] : (a[m / 2 - 1] + a[m / 2]) / 2;
    }
  }
  return out;
}
