/**
 * How a TIFF's samples map to colours (PhotometricInterpretation), and the two conversions the
 * reader makes: a palette's indices to RGB (as gdal_translate -expand rgb), and YCbCr to RGB.
 * Aerial orthophotos are often JPEG-compressed in YCbCr (GDAL's COMPRESS=JPEG PHOTOMETRIC=YCBCR,
 * the usual setting for RGB COGs); geotiff.js's JPEG decoder hands back the Y, Cb and Cr planes
 * unconverted, so without this the model would see luma as red.
 */

export type Photometric = 'miniswhite' | 'minisblack' | 'rgb' | 'palette' | 'mask' | 'cmyk' | 'ycbcr' | 'cielab' | 'other';

const PHOTOMETRIC: Record<number, Photometric> = { 0: 'miniswhite', 1: 'minisblack', 2: 'rgb', 3: 'palette', 4: 'mask', 5: 'cmyk', 6: 'ycbcr', 8: 'cielab' };

/** The TIFF tag's value by name; a file without the tag reads as RGB with three or more samples, else grey (as GDAL does). */
export function photometricOf(code: number | undefined, samplesPerPixel: number): Photometric {
  if (code === undefined) return samplesPerPixel >= 3 ? 'rgb' : 'minisblack';
  return PHOTOMETRIC[code] ?? 'other';
}

// libjpeg's jdcolor.c tables (JFIF / ITU-R BT.601 full range in 16-bit fixed point), which GDAL's
// JPEG reading uses: the same arithmetic gives the same RGB for the same decoded Y, Cb, Cr.
const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const fix = (x: number) => Math.floor(x * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256), CB_B = new Int32Array(256), CR_G = new Int32Array(256), CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (fix(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (fix(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -fix(0.71414) * x;
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}

const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

type Plane = { [i: number]: number; length: number };

/** Converts 8-bit Y, Cb, Cr planes to R, G, B in place (plane 0 becomes red, 1 green, 2 blue). */
export function ycbcrToRgb(y: Plane, cb: Plane, cr: Plane): void {
  const n = y.length;
  for (let i = 0; i < n; i++) {
    const l = y[i], b = cb[i], r = cr[i];
    y[i] = clamp(l + CR_R[r]);
    cb[i] = clamp(l + ((CB_G[b] + CR_G[r]) >> SCALEBITS));
    cr[i] = clamp(l + CB_B[b]);
  }
}

/** A TIFF ColorMap as three 8-bit lookup tables (red, green, blue), one entry per index value. */
export type Palette = [Uint8Array, Uint8Array, Uint8Array];

/**
 * The ColorMap tag (3 x 2^bits 16-bit values: all reds, then greens, then blues) as 8-bit tables,
 * scaled as GDAL reads it: values that are all <= 255 are taken as they are (some writers store
 * 8-bit colours), values that are all multiples of 257 are divided by 257 (GDAL and libtiff write
 * 8-bit colours that way), anything else is divided by 256.
 */
export function paletteOf(colorMap: ArrayLike<number>, bits: number): Palette {
  const entries = 2 ** bits;
  if (colorMap.length !== 3 * entries) throw new Error(`the colour map has ${colorMap.length} values, expected 3 x ${entries}`);
  let max = 0, all257 = true;
  for (let i = 0; i < colorMap.length; i++) {
    const v = colorMap[i];
    if (v > max) max = v;
    if (v % 257 !== 0) all257 = false;
  }
  const scale = (v: number) => (max <= 255 ? v : all257 ? v / 257 : v >> 8);
  const table = (k: number) => Uint8Array.from({ length: entries }, (_, i) => scale(colorMap[k * entries + i]));
  return [table(0), table(1), table(2)];
}

/** One colour of a paletted window: the table looked up at every index. */
export function expandPalette(index: ArrayLike<number>, table: Uint8Array): Uint8Array {
  const n = index.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = table[index[i]];
  return out;
}
