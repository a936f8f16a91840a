/**
 * Nearest-neighbour reads of chosen rows and columns of a GeoTIFF image: the decimated reads of
 * windows too large to decode whole, and masks read at another level's pixel centres.
 */
import type { GeoTIFFImage } from 'geotiff';

/**
 * Nearest-neighbour subsampling of a window too large to decode whole (a raster without fitting
 * overviews seen from far out): one source row per output row, so memory stays at a row's worth.
 * Values are kept as float64 so nodata comparisons stay exact.
 */
export async function decimatedRead(image: GeoTIFFImage, x0: number, y0: number, x1: number, y1: number, outW: number, outH: number, samples: number[]): Promise<Float64Array[]> {
  return sampledRead(image, nearestIndices(x0, x1, outW, 1, image.getWidth()), nearestIndices(y0, y1, outH, 1, image.getHeight()), samples, 0);
}

/**
 * Source pixels for `count` output pixels spread over [a, b) of a level, nearest to their centres
 * (GDAL's nearest RasterIO), in pixels of an image `scale` times finer (1: the level itself),
 * clamped to [0, size).
 */
export function nearestIndices(a: number, b: number, count: number, scale: number, size: number): Int32Array {
  const k = (b - a) / count;
  return Int32Array.from({ length: count }, (_, i) => Math.min(size - 1, Math.floor((a + (i + 0.5) * k) * scale)));
}

/** One mask plane from a mask's samples: 0 where any of them is 0. */
export function allValid(planes: ArrayLike<number>[], n: number): ArrayLike<number> {
  if (planes.length === 1) return planes[0];
  const out = new Uint8Array(n).fill(255);
  for (const p of planes) for (let i = 0; i < n; i++) if (p[i] === 0) out[i] = 0;
  return out;
}

/** Pixels of a mask's span decoded in one read (16 MB per sample of a byte mask). */
export const MASK_SPAN_PIXELS = 1 << 24;

/**
 * The samples of `image` at columns `cols` x rows `rows` (ascending), as float64 planes. Output
 * rows are read in runs whose source span holds at most `wholeSpan` pixels (at least one row a
 * run): a mask's tiles are decoded once per run, not once per output row they serve, and with
 * `wholeSpan` 0 memory stays at a source row's worth. Values are kept as float64 so nodata
 * comparisons stay exact.
 */
export async function sampledRead(image: GeoTIFFImage, cols: Int32Array, rows: Int32Array, samples: number[], wholeSpan: number): Promise<Float64Array[]> {
  const outW = cols.length, outH = rows.length;
  const out = samples.map(() => new Float64Array(outW * outH));
  if (!outW || !outH) return out;
  const cx0 = cols[0], cx1 = cols[outW - 1] + 1, spanW = cx1 - cx0;
  for (let r0 = 0; r0 < outH;) {
    let r1 = r0 + 1;
    while (r1 < outH && (rows[r1] - rows[r0] + 1) * spanW <= wholeSpan) r1++;
    const y0 = rows[r0], y1 = rows[r1 - 1] + 1;
    const span = (await image.readRasters({ window: [cx0, y0, cx1, y1], samples, interleave: false } as any)) as unknown as ArrayLike<number>[];
    for (let b = 0; b < samples.length; b++) {
      const src = span[b], dst = out[b];
      for (let r = r0; r < r1; r++) {
        const o = r * outW, so = (rows[r] - y0) * spanW - cx0;
        for (let c = 0; c < outW; c++) dst[o + c] = src[so + cols[c]];
      }
    }
    r0 = r1;
  }
  return out;
}
