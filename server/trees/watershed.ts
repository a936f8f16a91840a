/**
 * Marker-controlled watershed on the CHM (as ForestTools' mcws, flooding down from the tops): a
 * priority flood that always extends the highest unassigned pixel next to a crown. Pixels under
 * `thTree` are never flooded; a crown is also kept within maxCrFactor x its top's height of the
 * top, so one crown cannot run down a ridge across the stand (and tiles stay independent).
 * Ties in height are broken by pixel order (row-major), never by insertion order, so the result
 * does not depend on which part of the raster was loaded.
 */
export interface WatershedParams {
  thTree: number;
  maxCrFactor: number;
  resX: number;
  resY: number;
}

export function watershed(
  chm: Float32Array, width: number, height: number, seeds: Int32Array, p: WatershedParams,
): Int32Array {
  const n = width * height;
  const labels = new Int32Array(n);
  // binary max-heap of pixel indices keyed by (height desc, index asc)
  let heap = new Int32Array(Math.max(16, seeds.length * 4));
  let size = 0;
  const before = (a: number, b: number) => chm[a] > chm[b] || (chm[a] === chm[b] && a < b);
  const push = (i: number) => {
    if (size === heap.length) { const h = new Int32Array(heap.length * 2); h.set(heap); heap = h; }
    let c = size++;
    while (c > 0) {
      const parent = (c - 1) >> 1;
      if (!before(i, heap[parent])) break;
      heap[c] = heap[parent]; c = parent;
    }
    heap[c] = i;
  };
  const pop = () => {
    const top = heap[0];
    const last = heap[--size];
    let c = 0;
    for (;;) {
      let child = 2 * c + 1;
      if (child >= size) break;
      if (child + 1 < size && before(heap[child + 1], heap[child])) child++;
      if (!before(heap[child], last)) break;
      heap[c] = heap[child]; c = child;
    }
    heap[c] = last;
    return top;
  };
  const limit2 = new Float64Array(seeds.length + 1);
  for (let k = 1; k <= seeds.length; k++) {
    const s = seeds[k - 1];
    if (!(chm[s] >= p.thTree)) continue;
    labels[s] = k;
    limit2[k] = (p.maxCrFactor * chm[s]) ** 2;
    push(s);
  }
  while (size > 0) {
    const i = pop();
    const k = labels[i];
    const x = i % width, y = (i / width) | 0;
    const s = seeds[k - 1];
    const sx = s % width, sy = (s / width) | 0;
    for (let q = 0; q < 4; q++) {
      const nx = q === 1 ? x - 1 : q === 2 ? x + 1 : x;
      const ny = q === 0 ? y - 1 : q === 3 ? y + 1 : y;
      if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
      const j = ny * width + nx;
      if (labels[j] !== 0 || !(chm[j] >= p.thTree)) continue;
      const d2 = ((nx - sx) * p.resX) ** 2 + ((ny - sy) * p.resY) ** 2;
      if (d2 > limit2[k]) continue;
      labels[j] = k;
      push(j);
    }
  }
  return labels;
}
