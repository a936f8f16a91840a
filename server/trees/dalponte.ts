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

// lidR's neighbour order: up, left, right, down
const NDX = Int32Array.of(0, -1, 1, 0), NDY = Int32Array.of(-1, 0, 0, 1);

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
  const seedX = new Int32Array(nSeeds + 1), seedY = new Int32Array(nSeeds + 1);
  const hSeed = new Float64Array(nSeeds + 1), sum = new Float64Array(nSeeds + 1), count = new Float64Array(nSeeds + 1);
  let front: Int32Array = new Int32Array(nSeeds);
  let nFront = 0;
  for (let k = 1; k <= nSeeds; k++) {
    const i = seeds[k - 1];
    const h = chm[i];
    // lidR drops seeds under th_tree before growing
    if (!(h >= p.thTree)) continue;
    region[i] = k;
    seedX[k] = i % width; seedY[k] = (i / width) | 0;
    hSeed[k] = h; sum[k] = h; count[k] = 1;
    front[nFront++] = i;
  }
  const xMin = border.left ? 1 : 0, yMin = border.top ? 1 : 0;
  const xMax = border.right ? width - 2 : width - 1, yMax = border.bottom ? height - 2 : height - 1;
  const dist = p.maxCr;
  const claimed = new Int32Array(n); // labels written this pass (lidR's Regiontemp)
  // claims by direction (up, left, right, down): each list is ascending because sources are, so
  // the next front is a merge, not a sort
  const claims = [new Int32Array(1024), new Int32Array(1024), new Int32Array(1024), new Int32Array(1024)];
  const nc = new Int32Array(4);
  let stay = new Int32Array(Math.max(16, nFront));
  const thTree = p.thTree, thSeed = p.thSeed, thCr = p.thCr;

  while (nFront > 0) {
    let nClaims = 0, nStay = 0;
    nc.fill(0);
    for (let f = 0; f < nFront; f++) {
      const i = front[f];
      const y = (i / width) | 0, x = i - y * width;
      if (x < xMin || x > xMax || y < yMin || y > yMax) continue; // lidR never grows from the border
      const id = region[i];
      const hs = hSeed[id];
      const sx = seedX[id], sy = seedY[id];
      const mean = sum[id] / count[id]; // lidR takes the crown's mean once per source pixel
      let keep = false;
      // lidR's neighbour order: up, left, right, down
      for (let q = 0; q < 4; q++) {
        const nx = x + NDX[q], ny = y + NDY[q];
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
        const j = ny * width + nx;
        if (region[j] !== 0) continue;
        const z = chm[j];
        // static tests: they never change for this crown, so a failing neighbour is never retried
        if (!(z > thTree && z > hs * thSeed && z <= hs + hs * 0.05 && Math.abs(sx - nx) < dist && Math.abs(sy - ny) < dist)) continue;
        if (z > mean * thCr) {
          if (claimed[j] === 0) {
            let list = claims[q];
            if (nc[q] === list.length) { const c = new Int32Array(list.length * 2); c.set(list); claims[q] = list = c; }
            list[nc[q]++] = j;
            nClaims++;
          }
          claimed[j] = id;
          count[id]++;
          sum[id] += z;
        } else {
          keep = true; // the crown's mean may fall below this neighbour's reach later
        }
      }
      if (keep) stay[nStay++] = i;
    }
    if (nClaims === 0) break;
    // apply the pass (lidR copies Regiontemp into Region); the next front is, in row-major order,
    // the pixels that may still grow plus the pixels that just joined
    for (let q = 0; q < 4; q++) {
      const list = claims[q];
      for (let c = 0; c < nc[q]; c++) { const j = list[c]; region[j] = claimed[j]; claimed[j] = 0; }
    }
    if (front.length < nStay + nClaims) front = new Int32Array(Math.max(nStay + nClaims, front.length * 2));
    // five-way merge of ascending lists: stayers and the four claim lists
    const lists = [stay, claims[0], claims[1], claims[2], claims[3]];
    const lens = [nStay, nc[0], nc[1], nc[2], nc[3]];
    const pos = [0, 0, 0, 0, 0];
    let k = 0;
    for (;;) {
      let best = -1, bv = 0;
      for (let l = 0; l < 5; l++) {
        if (pos[l] < lens[l]) { const v = lists[l][pos[l]]; if (best < 0 || v < bv) { best = l; bv = v; } }
      }
      if (best < 0) break;
      front[k++] = bv;
      pos[best]++;
    }
    nFront = k;
    if (stay.length < nFront) stay = new Int32Array(Math.max(nFront, stay.length * 2));
  }
  return region;
}
