/**
 * Where the trees stand and what shape they are. The scene is divided into square cells; each
 * cell holds at most one candidate tree, decided by hashing (seed, cell), so the trees near any
 * window are found by visiting the cells near it (the cell grid is the spatial hash). Candidates
 * overtopped by a taller neighbour's crown are dropped: the truth lists the trees visible from
 * above, whose tops a canopy height model can show.
 */
import { unit3 } from './random.ts';
import { distanceToSegments, ROAD_HALF_WIDTH, ROAD_SHOULDER, type Landscape } from './landscape.ts';
import type { Preset } from './presets.ts';

export interface Tree {
  /** Cell indices: the tree's identity in the scene's world. */
  i: number;
  j: number;
  /** Apex position in scene metres (X east, Y south of the origin), on a 1 cm lattice. */
  x: number;
  y: number;
  /** Height of the apex (m), on a 1 cm lattice. */
  height: number;
  /** Height of the crown's lower edge (m). */
  base: number;
  /** Mean crown radius (m); the outline is lobed around it (see `radiusToward`). */
  radius: number;
  /** cos and sin of the phases of the outline's 3- and 5-fold lobes. */
  lobes: [number, number, number, number];
  conifer: boolean;
  /** Base foliage colour (0-255 floats). */
  rgb: [number, number, number];
  /** Per-tree texture phase. */
  tex: number;
}

/** Tallest tree and widest crown any preset makes: bounds every search radius. */
export const MAX_HEIGHT = 62;
export const MAX_RADIUS = 15;
/** Lowest tree kept, so every tree's top rises clear of the ground and understory. */
export const MIN_HEIGHT = 3;
/** A kept tree's top stands this much above any neighbour's crown at that place. */
const TOP_MARGIN_M = 0.5;

export interface SceneWorld {
  seed: number;
  preset: Preset;
  landscape: Landscape;
  /**
   * Distance by which a neighbour's crown is tested nearer than it is when deciding whether it
   * hides a tree's top: one pixel diagonal (see `topClearanceFor`), so the pixel holding a kept
   * tree's top never shows a neighbour's crown above that tree.
   */
  topClearance: number;
}

/** Any point of the pixel holding a top lies within one pixel diagonal of the top. */
export function topClearanceFor(gsd: number): number {
  return gsd * Math.SQRT2 + 1e-6;
}

const SALT = { present: 1, jx: 2, jy: 3, kind: 4, height: 5, radius: 6, base: 7, colour: 8 };

/** Crown allometry: radius from height, as in published crown-width equations (roughly linear). */
export function crownRadius(height: number, conifer: boolean): number {
  return conifer ? 0.6 + 0.1 * height : 0.9 + 0.16 * height;
}

/** The candidate of cell (i, j), or null when the cell is empty. */
function candidate(w: SceneWorld, i: number, j: number, roads: Float64Array): Tree | null {
  const { seed, preset, landscape } = w;
  const c = preset.cellSize;
  const u = (salt: number) => unit3(seed, i, j, salt);
  const x = Math.round((i + 0.15 + 0.7 * u(SALT.jx)) * c * 100) / 100;
  const y = Math.round((j + 0.15 + 0.7 * u(SALT.jy)) * c * 100) / 100;
  const stand = landscape.standAt(x, y);
  const p = stand.density * landscape.clump(x, y);
  if (u(SALT.present) >= p || !landscape.forested(x, y)) return null;
  const conifer = u(SALT.kind) < stand.coniferFraction;
  // Weibull heights per stand: the usual model of a stand's diameter/height distribution.
  // Conifers overtop broadleaves in mixed stands (Douglas-fir over maple and alder).
  const scale = stand.heightScale * (conifer ? 1.1 : 0.8);
  const weibull = scale * Math.pow(-Math.log(1 - u(SALT.height)), 1 / stand.heightShape);
  const height = Math.round(Math.min(MAX_HEIGHT, Math.max(MIN_HEIGHT, weibull)) * 100) / 100;
  const radius = Math.min(MAX_RADIUS / MAX_LOBE, crownRadius(height, conifer) * preset.crownWidth * (0.85 + 0.3 * u(SALT.radius)));
  if (distanceToSegments(roads, x, y) < ROAD_HALF_WIDTH + ROAD_SHOULDER + 0.3 * radius) return null;
  const base = height * (conifer ? 0.3 + 0.25 * u(SALT.base) : 0.35 + 0.2 * u(SALT.base));
  const v = (k: number) => unit3(seed, i, j, SALT.colour * 16 + k);
  const light = 0.85 + 0.3 * v(0);
  const rgb: [number, number, number] = conifer
    ? [(54 + 16 * v(1)) * light, (78 + 16 * v(2)) * light, (46 + 12 * v(3)) * light]
    : [(86 + 28 * v(1)) * light, (110 + 20 * v(2)) * light, (60 + 14 * v(3)) * light];
  for (let k = 0; k < 3; k++) rgb[k] *= stand.tint[k];
  const p3 = 2 * Math.PI * v(5);
  const p5 = 2 * Math.PI * v(6);
  return { i, j, x, y, height, base, radius, lobes: [Math.cos(p3), Math.sin(p3), Math.cos(p5), Math.sin(p5)], conifer, rgb, tex: v(4) * 1000 };
}

/** Amplitudes of the crown outline's lobes: real crowns are not circles. */
const LOBE3 = 0.07;
const LOBE5 = 0.05;
/** The widest a crown reaches, relative to its mean radius. */
export const MAX_LOBE = 1 + LOBE3 + LOBE5;

/** Crown radius in the direction (dx, dy) from the stem (no trigonometric calls: hot path). */
export function radiusToward(t: Tree, dx: number, dy: number): number {
  const d = Math.sqrt(dx * dx + dy * dy);
  if (d < 1e-9) return t.radius;
  const c = dx / d;
  const s = dy / d;
  const s2 = s * s;
  const c2 = c * c;
  const sin3 = s * (3 - 4 * s2);
  const cos3 = c * (4 * c2 - 3);
  const sin5 = s * (16 * s2 * s2 - 20 * s2 + 5);
  const cos5 = c * (16 * c2 * c2 - 20 * c2 + 5);
  const [c3, s3, c5, s5] = t.lobes;
  return t.radius * (1 + LOBE3 * (sin3 * c3 + cos3 * s3) + LOBE5 * (sin5 * c5 + cos5 * s5));
}

/** The crown's widest radius: bounds its footprint in every direction. */
export function maxRadius(t: Tree): number {
  return t.radius * MAX_LOBE;
}

/**
 * Height of the crown surface at horizontal distance d from the apex where the outline lies at
 * radius `r` (default: the widest, which bounds the surface in every direction); -1 outside.
 */
export function surfaceAt(t: Tree, d: number, r = maxRadius(t)): number {
  if (d >= r) return -1;
  const q = d / r;
  if (t.conifer) return t.height - (t.height - t.base) * q;
  // Broadleaf: the upper half of an ellipsoid whose vertical semi-axis is half the crown depth.
  const a = (t.height - t.base) / 2;
  return t.height - a + a * Math.sqrt(1 - q * q);
}

/** Horizontal radius of the crown solid at height z (0 outside the crown's height range). */
export function radiusAtHeight(t: Tree, z: number): number {
  if (z >= t.height || z <= t.base) return 0;
  if (t.conifer) return (t.radius * (t.height - z)) / (t.height - t.base);
  const a = (t.height - t.base) / 2;
  const zc = t.height - a;
  const q = (z - zc) / a;
  return t.radius * Math.sqrt(Math.max(0, 1 - q * q));
}

/**
 * The visible trees whose apex lies in [x0, x1) x [y0, y1) (scene metres), in cell order (row by
 * row). Deterministic: a tree's presence depends only on the cells around it, never on the box.
 */
export function treesInBox(w: SceneWorld, x0: number, y0: number, x1: number, y1: number): Tree[] {
  const c = w.preset.cellSize;
  const reach = Math.ceil((MAX_RADIUS + w.topClearance) / c);
  const i0 = Math.floor(x0 / c) - reach - 1;
  const i1 = Math.floor(x1 / c) + reach + 1;
  const j0 = Math.floor(y0 / c) - reach - 1;
  const j1 = Math.floor(y1 / c) + reach + 1;
  const ni = i1 - i0 + 1;
  const nj = j1 - j0 + 1;
  const roads = w.landscape.roadSegments(i0 * c, j0 * c, (i1 + 1) * c, (j1 + 1) * c, 2 * MAX_RADIUS);
  const grid: Array<Tree | null> = new Array(ni * nj);
  for (let j = j0; j <= j1; j++) for (let i = i0; i <= i1; i++) grid[(j - j0) * ni + (i - i0)] = candidate(w, i, j, roads);

  const out: Tree[] = [];
  for (let j = j0 + reach; j <= j1 - reach; j++) {
    for (let i = i0 + reach; i <= i1 - reach; i++) {
      const t = grid[(j - j0) * ni + (i - i0)];
      if (!t || t.x < x0 || t.x >= x1 || t.y < y0 || t.y >= y1) continue;
      if (!overtopped(t, grid, i - i0, j - j0, ni, reach, w.topClearance)) out.push(t);
    }
  }
  return out;
}

function overtopped(t: Tree, grid: Array<Tree | null>, gi: number, gj: number, ni: number, reach: number, clearance: number): boolean {
  for (let dj = -reach; dj <= reach; dj++) {
    for (let di = -reach; di <= reach; di++) {
      if (di === 0 && dj === 0) continue;
      const n = grid[(gj + dj) * ni + gi + di];
      if (!n || n.height < t.height - TOP_MARGIN_M) continue;
      const d = Math.max(0, Math.hypot(n.x - t.x, n.y - t.y) - clearance);
      if (surfaceAt(n, d) >= t.height - TOP_MARGIN_M) return true;
    }
  }
  return false;
}
