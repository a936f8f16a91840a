/**
 * Resampling a block of source pixels onto destination pixels, given where each destination
 * pixel centre falls in the block. Pure arithmetic on typed arrays. The kernel follows GDAL's
 * warper so tiles agree with gdalwarp: a destination pixel is valid when the source pixel under
 * its centre is valid; bilinear weights stretch by the downsampling ratio (a triangle filter of
 * radius `scale` source pixels), and invalid taps drop out with the weights renormalised.
 */

/** Decoded source pixels: band planes as float32 plus validity (null: all valid). */
export interface PixelBlock {
  width: number;
  height: number;
  bands: Float32Array[];
  mask: Uint8Array | null;
  /**
   * Per-band validity where bands hold nodata independently (a multi-band raster whose pixel has
   * nodata in some bands only). Used like GDAL's UNIFIED_SRC_NODATA=PARTIAL, gdalwarp's default:
   * `mask` decides whether a destination pixel is valid, each band's taps skip its own nodata.
   */
  bandMasks?: Array<Uint8Array | null>;
}

export type Resampling = 'nearest' | 'bilinear' | 'average';

/**
 * Where destination pixels fall: `row` fills the block pixel coordinates (x right, y down, pixel
 * centres at i + 0.5) of each destination pixel centre in row r, NaN where there is no mapping.
 */
export interface PixelMapping {
  width: number;
  height: number;
  row(r: number, sx: Float64Array, sy: Float64Array): void;
  /** Source pixels per destination pixel along x and y (the downsampling ratio). */
  scaleX: number;
  scaleY: number;
}

function weights1d(center: number, scale: number, method: Resampling, out: { i0: number; w: Float64Array; n: number }): void {
  if (method === 'average' && scale > 1) {
    // box filter: overlap of each source pixel with the destination footprint
    const a = center - scale / 2, b = center + scale / 2;
    const i0 = Math.floor(a), i1 = Math.ceil(b) - 1;
    out.i0 = i0;
    out.n = i1 - i0 + 1;
    for (let k = 0; k < out.n; k++) {
      const lo = Math.max(a, i0 + k), hi = Math.min(b, i0 + k + 1);
      out.w[k] = Math.max(0, hi - lo);
    }
    return;
  }
  // an upsampled axis (scale < 1) keeps the plain 2-tap kernel, as GDAL's does
  const s = Math.max(1, scale);
  const radius = Math.ceil(s);
  const base = Math.floor(center - 0.5);
  out.i0 = base - radius + 1;
  out.n = 2 * radius;
  for (let k = 0; k < out.n; k++) {
    const d = Math.abs(out.i0 + k + 0.5 - center) / s;
    out.w[k] = d < 1 ? 1 - d : 0;
  }
}

/** A rectangle of destination pixels resampled with its own kernel stretch (see PixelMapping). */
export interface ScaleRegion {
  x: number;
  y: number;
  width: number;
  height: number;
  scaleX: number;
  scaleY: number;
}

/**
 * Resample `block` onto mapping.width x mapping.height pixels. `regions`, when given, limit the
 * work to those rectangles, each with its own kernel stretch (GDAL's warp chunks); pixels outside
 * every region stay invalid.
 */
export function resampleBlock(block: PixelBlock, mapping: PixelMapping, method: Resampling, regions?: ScaleRegion[]): PixelBlock {
  const { width: W, height: H } = mapping;
  const nb = block.bands.length;
  const bands = block.bands.map(() => new Float32Array(W * H));
  const mask = new Uint8Array(W * H);
  const sx = new Float64Array(W), sy = new Float64Array(W);
  const bw = block.width, bh = block.height, bmask = block.mask, src = block.bands;
  const parts = regions ?? [{ x: 0, y: 0, width: W, height: H, scaleX: mapping.scaleX, scaleY: mapping.scaleY }];
  const maxScale = Math.max(1, ...parts.map((p) => Math.max(p.scaleX, p.scaleY)));
  const maxTaps = 2 * Math.ceil(maxScale) + 2;
  const wx = { i0: 0, w: new Float64Array(maxTaps), n: 0 };
  const wy = { i0: 0, w: new Float64Array(maxTaps), n: 0 };
  const acc = new Float64Array(nb);
  const totals = new Float64Array(nb);
  const bandMasks = block.bandMasks && block.bandMasks.some((m) => m) ? block.bandMasks : null;
  for (let r = 0; r < H; r++) {
    const active = parts.filter((p) => r >= p.y && r < p.y + p.height);
    if (!active.length) continue;
    mapping.row(r, sx, sy);
    for (const part of active) {
      const cEnd = Math.min(W, part.x + part.width);
      for (let c = Math.max(0, part.x); c < cEnd; c++) {
        const x = sx[c], y = sy[c];
        if (!(x >= 0 && y >= 0 && x < bw && y < bh)) continue;
        const ix = Math.floor(x), iy = Math.floor(y);
        const centre = iy * bw + ix;
        if (bmask && !bmask[centre]) continue;
        const o = r * W + c;
        if (method === 'nearest') {
          for (let b = 0; b < nb; b++) bands[b][o] = src[b][centre];
          mask[o] = 1;
          continue;
        }
        if (part.scaleX <= 1 && part.scaleY <= 1 && !bandMasks) {
          // the common case, upsampling or 1:1: GDAL's 4-sample bilinear, invalid taps dropped
          const x0 = Math.floor(x - 0.5), y0 = Math.floor(y - 0.5);
          const fx = x - 0.5 - x0, fy = y - 0.5 - y0;
          const xa = x0 < 0 ? x0 + 1 : x0, xb = x0 + 1 >= bw ? x0 : x0 + 1;
          const ya = y0 < 0 ? y0 + 1 : y0, yb = y0 + 1 >= bh ? y0 : y0 + 1;
          const p00 = ya * bw + xa, p01 = ya * bw + xb, p10 = yb * bw + xa, p11 = yb * bw + xb;
          // taps off the block take zero weight (their in-block twin stands in with weight 0)
          let w00 = x0 < 0 || y0 < 0 ? 0 : (1 - fx) * (1 - fy);
          let w01 = x0 + 1 >= bw || y0 < 0 ? 0 : fx * (1 - fy);
          let w10 = x0 < 0 || y0 + 1 >= bh ? 0 : (1 - fx) * fy;
          let w11 = x0 + 1 >= bw || y0 + 1 >= bh ? 0 : fx * fy;
          if (bmask) {
            if (!bmask[p00]) w00 = 0;
            if (!bmask[p01]) w01 = 0;
            if (!bmask[p10]) w10 = 0;
            if (!bmask[p11]) w11 = 0;
          }
          const t = w00 + w01 + w10 + w11;
          if (t <= 1e-10) continue;
          for (let b = 0; b < nb; b++) {
            const sb = src[b];
            // a dropped tap is not multiplied: under a mask may lie NaN (a CHM's nodata), and 0 x NaN is NaN
            bands[b][o] = ((w00 ? w00 * sb[p00] : 0) + (w01 ? w01 * sb[p01] : 0) + (w10 ? w10 * sb[p10] : 0) + (w11 ? w11 * sb[p11] : 0)) / t;
          }
          mask[o] = 1;
          continue;
        }
        weights1d(x, part.scaleX, method, wx);
        weights1d(y, part.scaleY, method, wy);
        if (!bandMasks && nb <= 3) {
          // up to three bands in locals: the inner loop stays free of array writes
          const s0 = src[0], s1 = nb > 1 ? src[1] : s0, s2 = nb > 2 ? src[2] : s0;
          let a0 = 0, a1 = 0, a2 = 0, total = 0;
          for (let j = 0; j < wy.n; j++) {
            const yy = wy.i0 + j;
            const wyj = wy.w[j];
            if (yy < 0 || yy >= bh || wyj === 0) continue;
            const rowOff = yy * bw;
            for (let i = 0; i < wx.n; i++) {
              const xx = wx.i0 + i;
              if (xx < 0 || xx >= bw) continue;
              const w = wx.w[i] * wyj;
              if (w === 0) continue;
              const p = rowOff + xx;
              if (bmask && !bmask[p]) continue;
              total += w;
              a0 += w * s0[p];
              a1 += w * s1[p];
              a2 += w * s2[p];
            }
          }
          if (total <= 1e-10) continue;
          bands[0][o] = a0 / total;
          if (nb > 1) bands[1][o] = a1 / total;
          if (nb > 2) bands[2][o] = a2 / total;
          mask[o] = 1;
          continue;
        }
        acc.fill(0);
        let total = 0;
        for (let j = 0; j < wy.n; j++) {
          const yy = wy.i0 + j;
          const wyj = wy.w[j];
          if (yy < 0 || yy >= bh || wyj === 0) continue;
          const rowOff = yy * bw;
          for (let i = 0; i < wx.n; i++) {
            const xx = wx.i0 + i;
            const w = wx.w[i] * wyj;
            if (xx < 0 || xx >= bw || w === 0) continue;
            const p = rowOff + xx;
            if (bmask && !bmask[p]) continue;
            total += w;
            if (bandMasks) {
              for (let b = 0; b < nb; b++) {
                const bm = bandMasks[b];
                if (bm && !bm[p]) continue;
                acc[b] += w * src[b][p];
                totals[b] += w;
              }
            } else {
              for (let b = 0; b < nb; b++) acc[b] += w * src[b][p];
            }
          }
        }
        if (total <= 1e-10) continue;
        if (bandMasks) {
          for (let b = 0; b < nb; b++) {
            bands[b][o] = totals[b] > 1e-10 ? acc[b] / totals[b] : src[b][centre];
            totals[b] = 0;
          }
        } else {
          for (let b = 0; b < nb; b++) bands[b][o] = acc[b] / total;
        }
        mask[o] = 1;
      }
    }
  }
  return { width: W, height: H, bands, mask };
}

/**
 * The mapping for an affine relation: destination pixel (c, r) centre lands at
 * (x0 + (c + 0.5) * dx, y0 + (r + 0.5) * dy) in block pixels.
 */
export function affineMapping(width: number, height: number, x0: number, y0: number, dx: number, dy: number): PixelMapping {
  return {
    width, height, scaleX: Math.abs(dx), scaleY: Math.abs(dy),
    row(r, sx, sy) {
      const y = y0 + (r + 0.5) * dy;
      for (let c = 0; c < width; c++) {
        sx[c] = x0 + (c + 0.5) * dx;
        sy[c] = y;
      }
    },
  };
}
