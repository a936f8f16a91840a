/**
 * Turning a tile's values into RGBA: per-band linear rescale to 0..255, a colour ramp for single
 * bands, and transparency wherever the mask says no data. Pure; encoding lives in encode.ts.
 */
import type { RasterImage } from '../server/raster/types.ts';
import { getRampLut } from './ramps/index.ts';

export interface RenderStyle {
  /** Per band [min, max] mapped to 0..255 (one entry applies to every band). */
  rescale: Array<[number, number]>;
  /** Ramp name (tiles/ramps) for single-band rendering; null: grey. */
  colormap: string | null;
}

function toByte(v: number, min: number, max: number): number {
  const t = max > min ? (v - min) / (max - min) : v >= max ? 1 : 0;
  const b = Math.round(t * 255);
  return b < 0 ? 0 : b > 255 ? 255 : b;
}

/** RGBA bytes (width*height*4) for an image of 1, 2 (grey + ignored) or 3+ (RGB) bands. */
export function renderRgba(image: RasterImage, style: RenderStyle): Uint8Array {
  const n = image.grid.width * image.grid.height;
  const out = new Uint8Array(n * 4);
  const mask = image.mask;
  const range = (b: number): [number, number] => style.rescale[b] ?? style.rescale[0] ?? [0, 255];
  const rgb = image.bands.length >= 3 && !style.colormap;
  if (rgb) {
    const [r, g, b] = image.bands;
    const [r0, r1] = range(0), [g0, g1] = range(1), [b0, b1] = range(2);
    for (let i = 0; i < n; i++) {
      if (mask && !mask[i]) continue;
      const o = i * 4;
      out[o] = toByte(r[i], r0, r1);
      out[o + 1] = toByte(g[i], g0, g1);
      out[o + 2] = toByte(b[i], b0, b1);
      out[o + 3] = 255;
    }
    return out;
  }
  const band = image.bands[0];
  const [lo, hi] = range(0);
  const lut = style.colormap ? getRampLut(style.colormap) : null;
  for (let i = 0; i < n; i++) {
    if (mask && !mask[i]) continue;
    const v = toByte(band[i], lo, hi);
    const o = i * 4;
    if (lut) {
      out[o] = lut[v * 3];
      out[o + 1] = lut[v * 3 + 1];
      out[o + 2] = lut[v * 3 + 2];
    } else {
      out[o] = out[o + 1] = out[o + 2] = v;
    }
    out[o + 3] = 255;
  }
  return out;
}

/** A horizontal legend strip (width x height RGBA) of a ramp, low values on the left. */
export function legendRgba(colormap: string, width: number, height: number): Uint8Array {
  const lut = getRampLut(colormap);
  const out = new Uint8Array(width * height * 4);
  for (let x = 0; x < width; x++) {
    const v = width > 1 ? Math.round((x / (width - 1)) * 255) : 0;
    for (let y = 0; y < height; y++) {
      const o = (y * width + x) * 4;
      out[o] = lut[v * 3];
      out[o + 1] = lut[v * 3 + 1];
      out[o + 2] = lut[v * 3 + 2];
      out[o + 3] = 255;
    }
  }
  return out;
}
