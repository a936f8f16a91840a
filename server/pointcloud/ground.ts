/**
 * Heights above ground for a point cloud that is not normalised: a DTM is interpolated from the
 * ground-classified points (class 2) by inverse distance weighting (k = 10 nearest, power 2, as
 * lidR's knnidw defaults), on a grid of `res` metres, and each point's height is its Z minus the
 * DTM bilinearly interpolated at the point. IDW, not a TIN: no triangulation dependency, and
 * stable where ground points are sparse.
 */
import { InvalidInputError } from '../errors.ts';

export interface Dtm { xmin: number; ymax: number; res: number; width: number; height: number; z: Float32Array }

/** A bucket grid over ground points for k-nearest search. */
function buckets(gx: Float64Array, gy: Float64Array, cell: number, xmin: number, ymin: number, w: number, h: number) {
  const start = new Int32Array(w * h + 1);
  const cellOf = (i: number) => Math.min(h - 1, Math.max(0, Math.floor((gy[i] - ymin) / cell))) * w + Math.min(w - 1, Math.max(0, Math.floor((gx[i] - xmin) / cell)));
  for (let i = 0; i < gx.length; i++) start[cellOf(i) + 1]++;
  for (let c = 0; c < w * h; c++) start[c + 1] += start[c];
  const fill = start.slice();
  const items = new Int32Array(gx.length);
  for (let i = 0; i < gx.length; i++) items[fill[cellOf(i)]++] = i;
  return { start, items };
}

export function idwDtm(gx: Float64Array, gy: Float64Array, gz: Float64Array, ext: { xmin: number; ymin: number; xmax: number; ymax: number }, res: number, k = 10, power = 2): Dtm {
  const n = gx.length;
  if (n < 3) throw new InvalidInputError(`only ${n} ground points (class 2): cannot interpolate a ground surface; pass a normalised cloud or a classified one`);
  const xmin = Math.floor(ext.xmin / res) * res - res, ymax = Math.ceil(ext.ymax / res) * res + res;
  const width = Math.ceil((ext.xmax - xmin) / res) + 2, height = Math.ceil((ymax - ext.ymin) / res) + 2;
  const area = (ext.xmax - ext.xmin + 1) * (ext.ymax - ext.ymin + 1);
  const cell = Math.max(res, Math.sqrt((area / n) * k));
  const bw = Math.ceil((ext.xmax - ext.xmin) / cell) + 1, bh = Math.ceil((ext.ymax - ext.ymin) / cell) + 1;
  const { start, items } = buckets(gx, gy, cell, ext.xmin, ext.ymin, bw, bh);
  const z = new Float32Array(width * height);
  const bestD = new Float64Array(k), bestI = new Int32Array(k);
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const px = xmin + (col + 0.5) * res, py = ymax - (row + 0.5) * res;
      const cx = Math.floor((px - ext.xmin) / cell), cy = Math.floor((py - ext.ymin) / cell);
      let found = 0;
      // grow rings of buckets until k points are found and the next ring cannot hold nearer ones
      for (let ring = 0; ring < Math.max(bw, bh) + 1; ring++) {
        for (let by = cy - ring; by <= cy + ring; by++) {
          for (let bx = cx - ring; bx <= cx + ring; bx++) {
            if (Math.max(Math.abs(bx - cx), Math.abs(by - cy)) !== ring) continue;
            if (bx < 0 || by < 0 || bx >= bw || by >= bh) continue;
            const b = by * bw + bx;
            for (let p = start[b]; p < start[b + 1]; p++) {
              const i = items[p];
              const d = (gx[i] - px) ** 2 + (gy[i] - py) ** 2;
              if (found < k) { bestD[found] = d; bestI[found] = i; found++; }
              else {
                let worst = 0;
                for (let q = 1; q < k; q++) if (bestD[q] > bestD[worst]) worst = q;
                if (d < bestD[worst]) { bestD[worst] = d; bestI[worst] = i; }
              }
            }
          }
        }
        if (found >= k) {
          let worst = 0;
          for (let q = 1; q < k; q++) if (bestD[q] > bestD[worst]) worst = q;
          const reach = ring * cell; // everything within this distance has been seen
          if (bestD[worst] <= reach * reach) break;
        }
      }
      let sw = 0, sz = 0, exact = NaN;
      for (let q = 0; q < found; q++) {
        if (bestD[q] === 0) { exact = gz[bestI[q]]; break; }
        const wgt = 1 / Math.pow(bestD[q], power / 2);
        sw += wgt; sz += wgt * gz[bestI[q]];
      }
      z[row * width + col] = exact === exact ? exact : sz / sw;
    }
  }
  return { xmin, ymax, res, width, height, z };
}

export function dtmAt(d: Dtm, x: number, y: number): number {
  const fx = (x - d.xmin) / d.res - 0.5, fy = (d.ymax - y) / d.res - 0.5;
  const x0 = Math.max(0, Math.min(d.width - 2, Math.floor(fx))), y0 = Math.max(0, Math.min(d.height - 2, Math.floor(fy)));
  const tx = Math.max(0, Math.min(1, fx - x0)), ty = Math.max(0, Math.min(1, fy - y0));
  const i = y0 * d.width + x0;
  const a = d.z[i], b = d.z[i + 1], c = d.z[i + d.width], e = d.z[i + d.width + 1];
  return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + e * tx) * ty;
}
