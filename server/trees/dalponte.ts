/**
 * Dalponte & Coomes (2016) crown growing, as lidR's C_dalponte2016 implements it, so results match
 * lidR's: regions grow one 4-neighbour ring per pass from every seed; a neighbour joins when it is
 * higher than th_tree, than th_seed x the seed's height and than th_cr x the crown's running mean
 * height, at most 5% above the seed, and less than max_cr pixels from the seed along x and y.
 * Within a pass, pixels are visited in row-major order, the crown's mean is updated as pixels join,
 * and when two crowns claim a pixel in the same pass the later claim wins (lidR's behaviour); pixels
 * on the raster's outer border never grow further (lidR skips them).
 *
 * Instead of rescanning the whole image each pass this visits only the growth front (labelled
 * pixels with an unlabelled neighbour), in the same row-major order, which gives the same result.
 */

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
  let claims = new Int32Array(1024);

  while (nFront > 0) {
    let nClaims = 0;
    for (let f = 0; f < nFront; f++) {
      const i = front[f];
      const x = i % width, y = (i / width) | 0;
      if (x < xMin || x > xMax || y < yMin || y > yMax) continue;
      const id = region[i];
      const hs = hSeed[id];
      const sx = seedX[id], sy = seedY[id];
      const mean = sum[id] / count[id]; // lidR takes the crown's mean once per source pixel
      // lidR's neighbour order: up, left, right, down
      for (let q = 0; q < 4; q++) {
        const nx = q === 1 ? x - 1 : q === 2 ? x + 1 : x;
        const ny = q === 0 ? y - 1 : q === 3 ? y + 1 : y;
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
        const j = ny * width + nx;
        const z = chm[j];
        if (!(z > p.thTree)) continue;
        if (z > hs * p.thSeed && z > mean * p.thCr && z <= hs + hs * 0.05 &&
            Math.abs(sx - nx) < dist && Math.abs(sy - ny) < dist && region[j] === 0) {
          if (claimed[j] === 0) {
            if (nClaims === claims.length) { const c = new Int32Array(claims.length * 2); c.set(claims); claims = c; }
            claims[nClaims++] = j;
          }
          claimed[j] = id;
          count[id]++;
          sum[id] += z;
        }
      }
    }
    // apply the pass (lidR copies Regiontemp into Region), then rebuild the front in row-major order
    for (let c = 0; c < nClaims; c++) { const j = claims[c]; region[j] = claimed[j]; claimed[j] = 0; }
    const next = new Int32Array(nFront + nClaims);
    let nNext = 0;
    // a labelled pixel stays in the front while some unlabelled neighbour passes the crown's static
    // tests (height band, distance); only the mean-height test changes as the crown grows
    const canTake = (id: number, j: number, nx: number, ny: number) => {
      if (region[j] !== 0) return false;
      const z = chm[j], hs = hSeed[id];
      return z > p.thTree && z > hs * p.thSeed && z <= hs + hs * 0.05 &&
        Math.abs(seedX[id] - nx) < dist && Math.abs(seedY[id] - ny) < dist;
    };
    const isFront = (i: number) => {
      const x = i % width, y = (i / width) | 0;
      if (x < xMin || x > xMax || y < yMin || y > yMax) return false; // never grows (raster border)
      const id = region[i];
      return (y > 0 && canTake(id, i - width, x, y - 1)) || (x > 0 && canTake(id, i - 1, x - 1, y)) ||
        (x < width - 1 && canTake(id, i + 1, x + 1, y)) || (y < height - 1 && canTake(id, i + width, x, y + 1));
    };
    const newOnes = claims.subarray(0, nClaims).sort();
    // merge two ascending lists: surviving old front and the newly labelled pixels
    let a = 0, b = 0;
    while (a < nFront || b < nClaims) {
      const take = b >= nClaims || (a < nFront && front[a] < newOnes[b]) ? front[a++] : newOnes[b++];
      if (isFront(take)) next[nNext++] = take;
    }
    if (nClaims === 0) break;
    front = next;
    nFront = nNext;
  }
  return region;
}
