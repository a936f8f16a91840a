/**
 * Model windows over a raster and their blend weights. Pure math: no I/O, no onnx.
 *
 * The raster extent is given in the model's pixel grid (already at the model's GSD). Windows are
 * laid out as in Meta's HighResCanopyHeight notebook (tile origins 0, stride, 2*stride, ...) with
 * one extra window flush with the far edge when the regular ones stop short of it, so every
 * pixel is covered. A raster smaller than one tile gets a single window that extends past its
 * edge (the read pads it).
 *
 * The blend window is separable, w(y, x) = g(y) * g(x), and the window layout is a product of
 * per-axis origins, so the sum of weights at a pixel is also separable:
 * W(y, x) = Gy(y) * Gx(x). Blending needs only two 1-D normalisers, not a 2-D weight buffer.
 */

/** The manifest's tiling.window values (server/model/manifest.ts BlendWindow). */
export type BlendWindowKind = 'apodization' | 'gaussian' | 'hann' | 'none';

export interface Tiling {
  /** Model input size in pixels (square tiles). */
  tileSize: number;
  /** Distance between tile origins in pixels (<= tileSize). */
  stride: number;
  /** Blend window: Meta's apodization (default), a Gaussian bump, a Hann window, or none (plain average). */
  window?: BlendWindowKind;
  /** Gaussian sigma in pixels: apodization default tileSize/32 (Meta: 8 at 256), gaussian default tileSize/4. */
  sigma?: number;
  /**
   * Lower the window so it reaches (almost) zero at the tile's edge (default true). Meta's
   * apodization stops at 0.046 of its peak at the edge, so where one tile's edge falls inside its
   * neighbour the blend steps by that fraction of the two predictions' difference: a faint seam.
   * A window that reaches zero makes the blend continuous. false reproduces Meta's notebook exactly.
   */
  taperEdges?: boolean;
}

/** One model window, in the model-GSD pixel grid of the raster. */
export interface ModelWindow {
  /** Index in row-major order. */
  index: number;
  /** Tile row and column in the window layout. */
  row: number;
  col: number;
  x: number;
  y: number;
  /** Always tiling.tileSize; may extend past the raster's right/bottom edge. */
  size: number;
}

export interface WindowPlan {
  width: number;
  height: number;
  tiling: Required<Omit<Tiling, 'sigma'>> & { sigma?: number };
  /** Tile origins along x and y. */
  xs: number[];
  ys: number[];
  /** Row-major windows: rows in the outer loop, as Meta's pipeline orders them. */
  windows: ModelWindow[];
  /** 1-D blend profile g (length tileSize); the 2-D weight is g[y] * g[x]. */
  profile: Float64Array;
  /** Per-axis weight sums: the total blend weight at (y, x) is weightY[y] * weightX[x]. */
  weightX: Float64Array;
  weightY: Float64Array;
}

/** Origins of the tiles along one axis of `size` pixels: 0, stride, ... plus a final flush one. */
export function axisOrigins(size: number, tileSize: number, stride: number): number[] {
  if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`axis size must be a positive integer, got ${size}`);
  if (size <= tileSize) return [0];
  const origins: number[] = [];
  for (let o = 0; o + tileSize <= size; o += stride) origins.push(o);
  const last = origins[origins.length - 1];
  if (last + tileSize < size) origins.push(size - tileSize);
  return origins;
}

/**
 * Meta's 1-D apodization profile (src/raster_utils.py create_apodization, NOTES.md §7): a box of
 * ones with pad = size/16 zeros on each side, smoothed by a Gaussian of sigma = pad/2 with
 * scipy's 'reflect' boundary and truncate 4, floored at 1e-14. The 2-D window is its outer product.
 */
export function apodizationProfile(size: number, sigma?: number): Float64Array {
  const pad = Math.trunc(size / 16);
  const box = new Float64Array(size);
  for (let i = pad; i < size - pad; i++) box[i] = 1;
  if (pad === 0) return box.fill(1);
  const out = gaussianFilterReflect(box, sigma ?? pad / 2, 4);
  for (let i = 0; i < size; i++) if (out[i] < 1e-14) out[i] = 1e-14;
  return out;
}

/** A Gaussian bump centred on the tile (default sigma size/4); floored so every pixel blends. */
export function gaussianProfile(size: number, sigma = size / 4): Float64Array {
  const out = new Float64Array(size);
  const c = (size - 1) / 2;
  for (let i = 0; i < size; i++) out[i] = Math.max(Math.exp(-((i - c) ** 2) / (2 * sigma * sigma)), 1e-6);
  return out;
}

/** Hann window sampled at pixel centres, so its edge pixels keep a small positive weight. */
export function hannProfile(size: number): Float64Array {
  return Float64Array.from({ length: size }, (_, i) => Math.max(Math.sin((Math.PI * (i + 0.5)) / size) ** 2, 1e-6));
}

export function blendProfile(kind: BlendWindowKind, size: number, sigma?: number): Float64Array {
  switch (kind) {
    case 'apodization': return apodizationProfile(size, sigma);
    case 'gaussian': return gaussianProfile(size, sigma);
    case 'hann': return hannProfile(size);
    case 'none': return new Float64Array(size).fill(1);
    default: throw new RangeError(`unknown blend window '${kind as string}'`);
  }
}

/** scipy.ndimage.gaussian_filter1d with mode 'reflect' (… c b a | a b c …), exact kernel. */
export function gaussianFilterReflect(input: Float64Array, sigma: number, truncate = 4): Float64Array {
  const radius = Math.trunc(truncate * sigma + 0.5);
  const kernel = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let t = -radius; t <= radius; t++) sum += kernel[t + radius] = Math.exp(-0.5 * (t * t) / (sigma * sigma));
  for (let k = 0; k < kernel.length; k++) kernel[k] /= sum;
  const n = input.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let t = -radius; t <= radius; t++) acc += kernel[t + radius] * input[reflectIndex(i + t, n)];
    out[i] = acc;
  }
  return out;
}

function reflectIndex(i: number, n: number): number {
  const period = 2 * n;
  let j = ((i % period) + period) % period;
  return j < n ? j : period - 1 - j;
}

/**
 * Shift a profile down so its edge samples sit at (nearly) zero, keeping the peak at its value.
 * The floor stays positive: a raster-border pixel that only one tile covers still gets that
 * tile's prediction after normalisation.
 */
export function taper(profile: Float64Array): Float64Array {
  const n = profile.length;
  const edge = Math.min(profile[0], profile[n - 1]);
  let peak = 0;
  for (let i = 0; i < n; i++) peak = Math.max(peak, profile[i]);
  if (!(peak > edge)) return profile;
  for (let i = 0; i < n; i++) profile[i] = Math.max(((profile[i] - edge) / (peak - edge)) * peak, 1e-9 * peak);
  return profile;
}

/** Sum of g(p - o) over the origins covering each pixel p of an axis. */
function axisWeightSum(size: number, origins: number[], profile: Float64Array): Float64Array {
  const sum = new Float64Array(size);
  for (const o of origins) {
    const end = Math.min(size, o + profile.length);
    for (let p = o; p < end; p++) sum[p] += profile[p - o];
  }
  return sum;
}

export function normaliseTiling(t: Tiling): WindowPlan['tiling'] {
  const { tileSize, stride, sigma } = t;
  if (!(Number.isInteger(tileSize) && tileSize > 0)) throw new RangeError(`tileSize must be a positive integer, got ${tileSize}`);
  if (!(Number.isInteger(stride) && stride > 0 && stride <= tileSize)) throw new RangeError(`stride must be an integer in [1, tileSize], got ${stride}`);
  if (sigma !== undefined && !(sigma > 0)) throw new RangeError(`sigma must be positive, got ${sigma}`);
  return { tileSize, stride, window: t.window ?? 'apodization', taperEdges: t.taperEdges ?? true, ...(sigma !== undefined ? { sigma } : {}) };
}

/** Plan the overlapping model windows over a width x height raster (model-GSD pixels). */
export function planWindows(width: number, height: number, tiling: Tiling): WindowPlan {
  const t = normaliseTiling(tiling);
  const xs = axisOrigins(width, t.tileSize, t.stride);
  const ys = axisOrigins(height, t.tileSize, t.stride);
  const windows: ModelWindow[] = [];
  for (let r = 0; r < ys.length; r++) {
    for (let c = 0; c < xs.length; c++) {
      windows.push({ index: windows.length, row: r, col: c, x: xs[c], y: ys[r], size: t.tileSize });
    }
  }
  const profile = blendProfile(t.window, t.tileSize, t.sigma);
  if (t.taperEdges && t.window !== 'none') taper(profile);
  return {
    width, height, tiling: t, xs, ys, windows, profile,
    weightX: axisWeightSum(width, xs, profile),
    weightY: axisWeightSum(height, ys, profile),
  };
}

/** The 2-D blend weight of a window at tile-local pixel (ty, tx). */
export function windowWeight(plan: WindowPlan, ty: number, tx: number): number {
  return plan.profile[ty] * plan.profile[tx];
}

/** Last raster row (exclusive) any window of tile row `r` touches. */
export function tileRowEnd(plan: WindowPlan, r: number): number {
  return Math.min(plan.height, plan.ys[r] + plan.tiling.tileSize);
}

/**
 * Rows [0, result) are final once every window of tile rows 0..r has been blended: no later tile
 * row starts above it.
 */
export function finalRowsAfterTileRow(plan: WindowPlan, r: number): number {
  return r + 1 < plan.ys.length ? plan.ys[r + 1] : plan.height;
}
