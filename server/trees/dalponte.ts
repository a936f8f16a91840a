/**
 * Dalponte & Coomes (2016) crown growing, as lidR's C_dalponte2016 implements it, so results match
 * lidR's: regions grow one 4-neighbour ring per pass from every seed; a neighbour joins when it is
 * higher than th_tree, than th_seed x the seed's height and than th_cr x the crown's running mean
 * height, at most 5% above the seed, and less than max_cr pixels from the seed along x and y.
 * Within a pass, pixels are visited in row-major order, the crown's mean is updated as pixels join,
 * and when two crowns claim a pixel in the same pass the later claim wins (lidR's behaviour); pixels
 * on the raster's outer border never grow further (lidR skips them).
 *
 * Instead of rescanning the whole image each pass this visits only the growth front, in the same
 * row-major order: pixels that just joined, and pixels with a neighbour that failed only the
 * crown-mean test (the one test that can change). Same result, a fraction of the work.
 */

// fields of a crown's record
const LO = 0, HI = 1, SX = 2, SY = 3, SUM = 4, COUNT = 5, STRIDE = 8;
// what visiting a neighbour did: nothing, claimed an unlabelled pixel, found it waiting on the
// crown-mean test only, or took it from a crown that claimed it earlier in this pass
const NONE = 0, JOINED = 1, WAITS = 2, RETAKEN = 3;

export interface DalponteParams {
  thTree: number;
  thSeed: number;
  thCr: number;
  /** Maximum crown diameter in pixels (lidR's max_cr). */
  maxCr: number;
}

/**
 * `chm` NaN = no data. `seeds`: row-major pixel indices, ascending; crown k (1-based) grows from
 * seeds[k-1]. `border`: which edges of this array are edges of the whole raster (growth stops
 * there, as in lidR); edges that are tile cuts are not borders. Returns labels (k, 0 = none).
 */
export function dalponte2016(
  chm: Float32Array, width: number, height: number, seeds: Int32Array, p: DalponteParams,
  border = { left: true, top: true, right: true, bottom: true },
): Int32Array {
  const n = width * height;
  const region = new Int32Array(n);
  const nSeeds = seeds.length;
  const thTree = p.thTree, thSeed = p.thSeed, thCr = p.thCr;
  // per crown, one cache line: static height bounds (a neighbour must be > LO, from th_tree and
  // th_seed x seed height, and <= HI, 5% above the seed), seed position, running height sum, count
  const crown = new Float64Array((nSeeds + 1) * STRIDE);
  let front: Int32Array = new Int32Array(nSeeds);
  let nFront = 0;
  for (let k = 1; k <= nSeeds; k++) {
    const i = seeds[k - 1];
    const h = chm[i];
    // lidR drops seeds under th_tree before growing
    if (!(h >= p.thTree)) continue;
    region[i] = k;
    const c = k * STRIDE;
    crown[c + LO] = Math.max(thTree, h * thSeed);
    crown[c + HI] = h + h * 0.05;
    crown[c + SX] = i % width; crown[c + SY] = (i / width) | 0;
    crown[c + SUM] = h; crown[c + COUNT] = 1;
    front[nFront++] = i;
  }
  const xMin = border.left ? 1 : 0, yMin = border.top ? 1 : 0;
  const xMax = border.right ? width - 2 : width - 1, yMax = border.bottom ? height - 2 : height - 1;
  const dist = p.maxCr;
  // the next front as a bitmap over pixels: reading it back word by word gives row-major order
  const bits = new Int32Array((n + 31) >>> 5);

  let sorted = false;
  while (nFront > 0) {
    let nClaims = 0, nStay = 0;
    for (let f = 0; f < nFront; f++) {
      const i = front[f];
      const y = (i / width) | 0, x = i - y * width;
      if (x < xMin || x > xMax || y < yMin || y > yMax) continue; // lidR never grows from the border
      const id = region[i];
      const c = id * STRIDE;
      const zlo = crown[c + LO], zhi = crown[c + HI];
      const sx = crown[c + SX], sy = crown[c + SY];
      const mean = crown[c + SUM] / crown[c + COUNT]; // lidR takes the crown's mean once per source pixel
      const reach = mean * thCr;
      // offsets from the seed, compared with max_cr for each neighbour
      const ox = x - sx, oy = y - sy;
      let claimed = 0, keep = false;
      // lidR's neighbour order: up, left, right, down (a neighbour off the array is skipped); four
      // calls with constant offsets rather than a loop over offset tables: about 20% faster
      if (y > 0) { const r = visit(region, chm, crown, bits, i - width, c, id, zlo, zhi, reach, ox, oy - 1, dist); if (r === JOINED) claimed++; else if (r === WAITS) keep = true; }
      if (x > 0) { const r = visit(region, chm, crown, bits, i - 1, c, id, zlo, zhi, reach, ox - 1, oy, dist); if (r === JOINED) claimed++; else if (r === WAITS) keep = true; }
      if (x < width - 1) { const r = visit(region, chm, crown, bits, i + 1, c, id, zlo, zhi, reach, ox + 1, oy, dist); if (r === JOINED) claimed++; else if (r === WAITS) keep = true; }
      if (y < height - 1) { const r = visit(region, chm, crown, bits, i + width, c, id, zlo, zhi, reach, ox, oy + 1, dist); if (r === JOINED) claimed++; else if (r === WAITS) keep = true; }
      nClaims += claimed;
      if (keep) { bits[i >>> 5] |= 1 << (i & 31); nStay++; }
    }
    // every mark lies within a row of the front (ascending after the first pass; seeds should be)
    const w0 = sorted ? Math.max(0, front[0] - width) >>> 5 : 0;
    const w1 = sorted ? Math.min(n - 1, front[nFront - 1] + width) >>> 5 : bits.length - 1;
    sorted = true;
    if (nClaims === 0) { bits.fill(0, w0, w1 + 1); break; }
    // apply the pass (lidR copies Regiontemp into Region); the next front is, in row-major order,
    // the pixels that may still grow plus the pixels that just joined
    const total = nStay + nClaims;
    if (front.length < total) front = new Int32Array(Math.max(total, front.length * 2));
    let k = 0;
    for (let wi = w0; wi <= w1; wi++) {
      let word = bits[wi];
      if (word === 0) continue;
      bits[wi] = 0;
      const base = wi << 5;
      while (word !== 0) {
        const t = word & -word;
        const j = base + 31 - Math.clz32(t);
        word ^= t;
        const r = region[j];
        if (r < 0) region[j] = -r;
        front[k++] = j;
      }
    }
    nFront = k;
  }
  return region;
}

/** Neighbour j of a front pixel of crown `id` (its record at c); (ox, oy): j's offset from the seed. */
function visit(region: Int32Array, chm: Float32Array, crown: Float64Array, bits: Int32Array, j: number, c: number, id: number, zlo: number, zhi: number, reach: number, ox: number, oy: number, dist: number): number {
  // region < 0: claimed this pass by crown -region, still unlabelled (lidR's Regiontemp)
  const rj = region[j];
  if (rj > 0) return NONE;
  const z = chm[j];
  // static tests: they never change for this crown, so a failing neighbour is never retried
  if (!(z > zlo && z <= zhi && Math.abs(ox) < dist && Math.abs(oy) < dist)) return NONE;
  if (!(z > reach)) return WAITS; // the crown's mean may fall below this neighbour's reach later
  region[j] = -id; // when two crowns claim a pixel in a pass, the later claim wins
  crown[c + COUNT]++;
  crown[c + SUM] += z;
  if (rj !== 0) return RETAKEN;
  bits[j >>> 5] |= 1 << (j & 31);
  return JOINED;
}
