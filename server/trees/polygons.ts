/**
 * Crown label raster -> crown polygons. Each crown's boundary is traced along pixel edges
 * (4-connected: crowns touching only at a corner stay apart), holes are kept, and where a ring
 * passes a corner twice (a saddle) the corner is cut 0.05 px into the crown so rings never
 * touch themselves. Rings are then simplified (Douglas-Peucker, about half a pixel) only when the
 * result stays valid (no self-intersections, holes not crossing the exterior), else kept exact.
 */
import type { Affine } from '../raster/types.ts';
import type { CrownPolygon } from './types.ts';

const SADDLE_NUDGE = 0.05;

/**
 * Pixels of each label (1..nLabels), row-major, via a counting sort: start[k]..start[k+1] in
 * `pixels`. `counts[k]`: label k's pixel count (the caller counts them while it renumbers labels).
 */
export function pixelsByLabel(labels: Int32Array, nLabels: number, counts: ArrayLike<number>): { start: Int32Array; pixels: Int32Array } {
  const start = new Int32Array(nLabels + 2);
  for (let k = 1; k <= nLabels; k++) start[k + 1] = counts[k];
  for (let k = 1; k <= nLabels + 1; k++) start[k] += start[k - 1];
  return { start, pixels: sortedByLabel(labels, nLabels, start) };
}

/**
 * The counting sort's pass over the pixels, alone in its function: V8 optimises a loop this long
 * on the stack (OSR) before the code after it has run, and code after it that had never run
 * deoptimised that OSR code on every later call (--trace-deopt: the result's object literal).
 */
function sortedByLabel(labels: Int32Array, nLabels: number, start: Int32Array): Int32Array {
  const fill = start.slice();
  const pixels = new Int32Array(start[nLabels + 1]);
  for (let i = 0; i < labels.length; i++) { const k = labels[i]; if (k > 0 && k <= nLabels) pixels[fill[k]++] = i; }
  return pixels;
}

/**
 * Keeps, for each crown k, only the 4-connected part holding its seed (seeds[k-1]); fragments
 * (a Voronoi cell cut by the height threshold, say) go back to 0. Works in place.
 */
export function keepSeedComponents(labels: Int32Array, width: number, height: number, seeds: Int32Array): void {
  const reached = new Uint8Array(labels.length);
  const stack: number[] = [];
  for (let k = 1; k <= seeds.length; k++) {
    const s = seeds[k - 1];
    if (labels[s] !== k) continue;
    reached[s] = 1;
    stack.push(s);
    while (stack.length) {
      const i = stack.pop()!;
      const x = i % width;
      if (i >= width && labels[i - width] === k && !reached[i - width]) { reached[i - width] = 1; stack.push(i - width); }
      if (i + width < labels.length && labels[i + width] === k && !reached[i + width]) { reached[i + width] = 1; stack.push(i + width); }
      if (x > 0 && labels[i - 1] === k && !reached[i - 1]) { reached[i - 1] = 1; stack.push(i - 1); }
      if (x < width - 1 && labels[i + 1] === k && !reached[i + 1]) { reached[i + 1] = 1; stack.push(i + 1); }
    }
  }
  for (let i = 0; i < labels.length; i++) if (labels[i] > 0 && !reached[i]) labels[i] = 0;
}

function inRegion(labels: Int32Array, width: number, height: number, k: number, x: number, y: number): boolean {
  return x >= 0 && y >= 0 && x < width && y < height && labels[y * width + x] === k;
}

// directions: 0 east, 1 south, 2 west, 3 north (image coordinates, y down)
const DX = [1, 0, -1, 0], DY = [0, 1, 0, -1];

/**
 * Traces the rings of crown `k` whose pixels are `pix` (row-major). Returns rings in pixel-corner
 * coordinates of the whole raster (window + offset, so a tile computes exactly the same numbers
 * as the whole raster): the exterior first (clockwise on screen), then holes.
 */
export function traceRings(labels: Int32Array, width: number, height: number, k: number, pix: ArrayLike<number>, visited: Uint8Array, offsetX = 0, offsetY = 0): number[][] {
  const rings: number[][] = [];
  for (let p = 0; p < pix.length; p++) {
    const i0 = pix[p];
    const x0 = i0 % width, y0 = (i0 / width) | 0;
    if (inRegion(labels, width, height, k, x0, y0 - 1) || visited[i0] & 1) continue; // a top side on the boundary starts a ring
    const ring: number[] = [];
    let vx = x0, vy = y0, d = 0;
    const sx = vx, sy = vy;
    do {
      // mark the edge leaving (vx, vy) in direction d; the crown pixel on its right holds the bit
      const rx = vx + (DX[d] - DY[d] > 0 ? 0 : -1) , ry = vy + (DY[d] + DX[d] > 0 ? 0 : -1);
      visited[ry * width + rx] |= 1 << d;
      vx += DX[d]; vy += DY[d];
      // the two pixels ahead of the corner we reached: ahead-right (B) and ahead-left (A)
      const rnx = -DY[d], rny = DX[d];
      const bx = vx + (DX[d] + rnx > 0 ? 0 : -1), by = vy + (DY[d] + rny > 0 ? 0 : -1);
      const ax = vx + (DX[d] - rnx > 0 ? 0 : -1), ay = vy + (DY[d] - rny > 0 ? 0 : -1);
      const B = inRegion(labels, width, height, k, bx, by), A = inRegion(labels, width, height, k, ax, ay);
      if (!B) {
        if (A) {
          // saddle: turn right around the pixel we follow and cut its corner a little, so the
          // ring that wraps the diagonal pixel through this corner never shares a point with it
          const gx = vx + offsetX, gy = vy + offsetY;
          ring.push(gx - SADDLE_NUDGE * DX[d], gy - SADDLE_NUDGE * DY[d], gx + SADDLE_NUDGE * rnx, gy + SADDLE_NUDGE * rny);
        } else ring.push(vx + offsetX, vy + offsetY);
        d = (d + 1) & 3;
      } else if (A) {
        ring.push(vx + offsetX, vy + offsetY);
        d = (d + 3) & 3;
      }
      // straight on: no corner
    } while (!(vx === sx && vy === sy && d === 0));
    rings.push(ring);
  }
  // exterior first: the ring with the largest (positive, clockwise-on-screen) area
  rings.sort((a, b) => signedArea(b) - signedArea(a));
  return rings;
}

/** Shoelace area of the flat [x0,y0,x1,y1,...] ring r[from..to) (implicitly closed). */
export function signedArea(r: ArrayLike<number>, from = 0, to = r.length): number {
  let s = 0;
  for (let i = from; i < to; i += 2) {
    const j = i + 2 < to ? i + 2 : from;
    s += r[i] * r[j + 1] - r[j] * r[i + 1];
  }
  return s / 2;
}

function dpRing(r: number[], tol: number): number[] {
  const n = r.length / 2;
  if (n <= 4) return r;
  // split the closed ring at vertex 0 and the vertex farthest from it
  let far = 0, best = -1;
  for (let i = 1; i < n; i++) {
    const d = (r[2 * i] - r[0]) ** 2 + (r[2 * i + 1] - r[1]) ** 2;
    if (d > best) { best = d; far = i; }
  }
  if (scratch.keep.length < n) scratch.keep = new Uint8Array(Math.max(n, scratch.keep.length * 2));
  if (scratch.stack.length < 2 * n + 4) scratch.stack = new Int32Array(Math.max(2 * n + 4, scratch.stack.length * 2));
  const keep = scratch.keep, stack = scratch.stack;
  keep.fill(0, 0, n);
  keep[0] = 1; keep[far] = 1;
  let sp = 0;
  stack[sp++] = 0; stack[sp++] = far; stack[sp++] = far; stack[sp++] = n;
  while (sp > 0) {
    const b = stack[--sp], a = stack[--sp];
    const ax = r[2 * a], ay = r[2 * a + 1], bx = r[2 * (b % n)], by = r[2 * (b % n) + 1];
    const len = Math.hypot(bx - ax, by - ay);
    let maxD = -1, at = -1;
    for (let i = a + 1; i < b; i++) {
      const px = r[2 * i], py = r[2 * i + 1];
      const d = len > 0 ? Math.abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / len : Math.hypot(px - ax, py - ay);
      if (d > maxD) { maxD = d; at = i; }
    }
    if (at >= 0 && maxD > tol) {
      keep[at] = 1;
      if (sp + 4 > stack.length) break; // cannot happen: each vertex is split on once
      stack[sp++] = a; stack[sp++] = at; stack[sp++] = at; stack[sp++] = b;
    }
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(r[2 * i], r[2 * i + 1]);
  return out;
}

/** Twice the signed area of the triangle p q r: positive when r lies left of p -> q. */
export function orient(px: number, py: number, qx: number, qy: number, rx: number, ry: number): number {
  return (qx - px) * (ry - py) - (qy - py) * (rx - px);
}

function within(px: number, py: number, qx: number, qy: number, rx: number, ry: number): boolean {
  return Math.min(px, qx) <= rx && rx <= Math.max(px, qx) && Math.min(py, qy) <= ry && ry <= Math.max(py, qy);
}

function segmentsCross(ax: number, ay: number, bx: number, by: number, cx: number, cy: number, dx: number, dy: number): boolean {
  const d1 = orient(cx, cy, dx, dy, ax, ay), d2 = orient(cx, cy, dx, dy, bx, by);
  const d3 = orient(ax, ay, bx, by, cx, cy), d4 = orient(ax, ay, bx, by, dx, dy);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  if (d1 === 0 && within(cx, cy, dx, dy, ax, ay)) return true;
  if (d2 === 0 && within(cx, cy, dx, dy, bx, by)) return true;
  if (d3 === 0 && within(ax, ay, bx, by, cx, cy)) return true;
  if (d4 === 0 && within(ax, ay, bx, by, dx, dy)) return true;
  return false;
}

// reused between calls: validity is checked for every crown, and fresh typed arrays each time
// would keep the garbage collector busy
const scratch = {
  ax: new Float64Array(256), ay: new Float64Array(256), bx: new Float64Array(256), by: new Float64Array(256),
  ringOf: new Int32Array(256), idx: new Int32Array(256), len: new Int32Array(256), keep: new Uint8Array(256), stack: new Int32Array(512), order: new Int32Array(256),
};
function growScratch(m: number): void {
  const n = Math.max(m, scratch.ax.length * 2);
  scratch.ax = new Float64Array(n); scratch.ay = new Float64Array(n); scratch.bx = new Float64Array(n); scratch.by = new Float64Array(n);
  scratch.ringOf = new Int32Array(n); scratch.idx = new Int32Array(n); scratch.len = new Int32Array(n);
}

/** True when no two non-adjacent edges of the rings touch or cross, and every ring has area. */
export function ringsValid(rings: number[][]): boolean {
  let m = 0;
  for (const ring of rings) {
    if (ring.length < 6 || Math.abs(signedArea(ring)) < 1e-9) return false;
    m += ring.length / 2;
  }
  if (scratch.ax.length < m) growScratch(m);
  const { ax, ay, bx, by, ringOf, idx, len } = scratch;
  let s = 0;
  rings.forEach((ring, r) => {
    const n = ring.length / 2;
    for (let i = 0; i < n; i++, s++) {
      const j = (i + 1) % n;
      ax[s] = ring[2 * i]; ay[s] = ring[2 * i + 1]; bx[s] = ring[2 * j]; by[s] = ring[2 * j + 1];
      ringOf[s] = r; idx[s] = i; len[s] = n;
    }
  });
  // sweep along x (for larger rings): only segments whose x-extents overlap are compared
  if (scratch.order.length < m) scratch.order = new Int32Array(Math.max(m, scratch.order.length * 2));
  const order = scratch.order;
  for (let k = 0; k < m; k++) order[k] = k;
  if (m > 64) {
    const keyed = new Float64Array(m);
    for (let k = 0; k < m; k++) keyed[k] = Math.min(ax[k], bx[k]);
    order.subarray(0, m).sort((p, q) => keyed[p] - keyed[q]);
  }
  const sorted = m > 64;
  for (let oa = 0; oa < m; oa++) {
    const a = order[oa];
    const aMinX = Math.min(ax[a], bx[a]), aMaxX = Math.max(ax[a], bx[a]);
    const aMinY = Math.min(ay[a], by[a]), aMaxY = Math.max(ay[a], by[a]);
    for (let ob = oa + 1; ob < m; ob++) {
      const b = order[ob];
      const bMinX = Math.min(ax[b], bx[b]);
      if (bMinX > aMaxX) { if (sorted) break; continue; }
      if (Math.max(ax[b], bx[b]) < aMinX) continue;
      if (Math.min(ay[b], by[b]) > aMaxY || Math.max(ay[b], by[b]) < aMinY) continue;
      if (ringOf[a] === ringOf[b]) {
        const diff = Math.abs(idx[b] - idx[a]);
        if (diff === 1 || diff === len[a] - 1) continue; // neighbours share a vertex
      }
      if (segmentsCross(ax[a], ay[a], bx[a], by[a], ax[b], ay[b], bx[b], by[b])) return false;
    }
  }
  return true;
}

export function simplifyRings(rings: number[][], tol: number): number[][] {
  if (tol <= 0) return rings;
  for (const t of [tol, tol / 2]) {
    const s = rings.map((r) => dpRing(r, t));
    if (ringsValid(s)) return s;
  }
  return rings;
}

/** Pixel-corner rings -> map coordinates, exterior counter-clockwise and holes clockwise (RFC 7946), closed. */
export function ringsToMap(rings: number[][], t: Affine): CrownPolygon {
  return rings.map((r, ri) => {
    const pts: Array<[number, number]> = [];
    for (let i = 0; i < r.length; i += 2) {
      const px = r[i], py = r[i + 1];
      pts.push([t[0] + px * t[1] + py * t[2], t[3] + px * t[4] + py * t[5]]);
    }
    let area = 0;
    for (let i = 0; i < pts.length; i++) {
      const [x1, y1] = pts[i], [x2, y2] = pts[(i + 1) % pts.length];
      area += x1 * y2 - x2 * y1;
    }
    if ((ri === 0) !== (area > 0)) pts.reverse();
    pts.push([pts[0][0], pts[0][1]]);
    return pts;
  });
}
