/**
 * The NeonTreeEvaluation rule for crowns against hand-drawn boxes: predictions and truth are
 * matched one-to-one by the Hungarian method maximising intersection area; a matched pair is a
 * true positive when IoU > 0.4; recall = TP / truth, precision = TP / predictions.
 */
export interface Box { xmin: number; ymin: number; xmax: number; ymax: number }

export function intersection(a: Box, b: Box): number {
  const w = Math.min(a.xmax, b.xmax) - Math.max(a.xmin, b.xmin);
  const h = Math.min(a.ymax, b.ymax) - Math.max(a.ymin, b.ymin);
  return w > 0 && h > 0 ? w * h : 0;
}

export function iou(a: Box, b: Box): number {
  const i = intersection(a, b);
  const u = (a.xmax - a.xmin) * (a.ymax - a.ymin) + (b.xmax - b.xmin) * (b.ymax - b.ymin) - i;
  return u > 0 ? i / u : 0;
}

/**
 * Assignment maximising the total of `score` (rows x cols, any shape): returns for each row the
 * matched column or -1. Kuhn-Munkres with potentials (O(n^3)) on the padded square cost matrix.
 */
export function hungarianMax(score: number[][]): number[] {
  const rows = score.length, cols = rows ? score[0].length : 0;
  const n = Math.max(rows, cols);
  if (n === 0) return [];
  let max = 0;
  for (const r of score) for (const v of r) max = Math.max(max, v);
  const cost = (i: number, j: number) => (i < rows && j < cols ? max - score[i][j] : max);
  const u = new Float64Array(n + 1), v = new Float64Array(n + 1);
  const p = new Int32Array(n + 1), way = new Int32Array(n + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(n + 1).fill(Infinity);
    const used = new Uint8Array(n + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity, j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
        if (minv[j] < delta) { delta = minv[j]; j1 = j; }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) { u[p[j]] += delta; v[j] -= delta; } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do { const j1 = way[j0]; p[j0] = p[j1]; j0 = j1; } while (j0);
  }
  const match = new Array<number>(rows).fill(-1);
  for (let j = 1; j <= n; j++) if (p[j] - 1 < rows && j - 1 < cols) match[p[j] - 1] = j - 1;
  return match;
}

export interface CrownScore { truth: number; predicted: number; truePositives: number; precision: number; recall: number; meanIou: number }

export function scoreCrowns(predicted: Box[], truth: Box[], threshold = 0.4): CrownScore {
  const score = truth.map((t) => predicted.map((p) => intersection(t, p)));
  const match = hungarianMax(score);
  let tp = 0, iouSum = 0;
  match.forEach((j, i) => {
    if (j < 0 || score[i][j] === 0) return;
    const v = iou(truth[i], predicted[j]);
    iouSum += v;
    if (v > threshold) tp++;
  });
  return {
    truth: truth.length, predicted: predicted.length, truePositives: tp,
    precision: predicted.length ? tp / predicted.length : 0,
    recall: truth.length ? tp / truth.length : 0,
    meanIou: truth.length ? iouSum / truth.length : 0,
  };
}

/** Pascal VOC boxes (pixel coordinates) from an annotation XML. */
export function parseVocBoxes(xml: string): Box[] {
  const boxes: Box[] = [];
  const re = /<bndbox>([\s\S]*?)<\/bndbox>/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(xml))) {
    const get = (k: string) => Number(new RegExp(`<${k}>\\s*([-\\d.]+)\\s*</${k}>`).exec(m![1])?.[1]);
    const b = { xmin: get('xmin'), ymin: get('ymin'), xmax: get('xmax'), ymax: get('ymax') };
    if (Object.values(b).every(Number.isFinite) && b.xmax > b.xmin && b.ymax > b.ymin) boxes.push(b);
  }
  return boxes;
}
