/**
 * The landscape a forest grows in, as pure functions of scene metres (X east, Y south from the
 * scene origin): stands with their own parameters, clearings and gaps, and a network of tracks.
 * Nothing here depends on the raster window, so any strip sees the same world.
 */
import { fbm, hash3, unit3 } from './random.ts';
import type { Preset } from './presets.ts';

export interface Stand {
  id: number;
  density: number;
  coniferFraction: number;
  heightScale: number;
  heightShape: number;
  /** Colour tint of the stand's foliage, multiplicative around 1. */
  tint: [number, number, number];
}

const STAND_CELL = 190;
const ROAD_CELL = 650;
/** Half width of a forest track (m) and of its soft shoulder. */
export const ROAD_HALF_WIDTH = 2.4;
export const ROAD_SHOULDER = 1.6;

const SALT = { stand: 11, clearing: 101, gap: 151, clump: 181, roadNode: 211, roadEdge: 223 };

/** A stand's parameters from its cell: drawn inside the preset's ranges. */
function standOf(seed: number, preset: Preset, i: number, j: number): Stand {
  const u = (k: number) => unit3(seed, i, j, SALT.stand * 100 + k);
  const lerp = (r: [number, number], t: number) => r[0] + (r[1] - r[0]) * t;
  return {
    id: hash3(seed, i, j, SALT.stand),
    density: lerp(preset.density, u(1)),
    coniferFraction: lerp(preset.coniferFraction, u(2)),
    heightScale: lerp(preset.heightScale, u(3)),
    heightShape: lerp(preset.heightShape, u(4)),
    tint: [0.92 + 0.16 * u(5), 0.92 + 0.16 * u(6), 0.9 + 0.2 * u(7)],
  };
}

export interface Landscape {
  standAt(x: number, y: number): Stand;
  /** True where trees may stand (not in a clearing or a gap). */
  forested(x: number, y: number): boolean;
  /** 0..1 where the meadow of a clearing is (soft edge), for ground colour. */
  clearing(x: number, y: number): number;
  /** Density multiplier for clumping, around 1. */
  clump(x: number, y: number): number;
  /** Track segments [ax, ay, bx, by] whose bounds come within `margin` of the box. */
  roadSegments(x0: number, y0: number, x1: number, y1: number, margin: number): Float64Array;
}

/** Threshold above which a noise field covers `share` of the area, from a fixed sample. */
function quantileOf(sample: (x: number, y: number) => number, share: number): number {
  if (share <= 0) return Infinity;
  const values: number[] = [];
  for (let i = 0; i < 64; i++) for (let j = 0; j < 64; j++) values.push(sample(i * 37.3, j * 41.7));
  values.sort((a, b) => a - b);
  return values[Math.min(values.length - 1, Math.floor((1 - share) * values.length))];
}

export function makeLandscape(seed: number, preset: Preset): Landscape {
  const clearingField = (x: number, y: number) => fbm(seed, SALT.clearing, x / 170, y / 170, 3);
  const gapField = (x: number, y: number) => fbm(seed, SALT.gap, x / 28, y / 28, 2);
  const clearingAt = quantileOf((x, y) => clearingField(x * 5, y * 5), preset.clearingCover);
  const gapAt = quantileOf(gapField, preset.gapCover);
  const standCache = new Map<number, Stand>();

  const stand = (i: number, j: number) => {
    const key = (i + 32768) * 65536 + (j + 32768);
    let s = standCache.get(key);
    if (!s) {
      if (standCache.size > 4096) standCache.clear();
      s = standOf(seed, preset, i, j);
      standCache.set(key, s);
    }
    return s;
  };

  /** A track node: one per road cell, jittered around the cell centre. */
  const node = (i: number, j: number): [number, number] => [
    (i + 0.2 + 0.6 * unit3(seed, i, j, SALT.roadNode)) * ROAD_CELL,
    (j + 0.2 + 0.6 * unit3(seed, i, j, SALT.roadNode + 1)) * ROAD_CELL,
  ];

  return {
    standAt(x, y) {
      // Voronoi over jittered stand centres: irregular stand boundaries.
      const ci = Math.floor(x / STAND_CELL);
      const cj = Math.floor(y / STAND_CELL);
      let best = Infinity;
      let bi = ci;
      let bj = cj;
      for (let dj = -1; dj <= 1; dj++) {
        for (let di = -1; di <= 1; di++) {
          const i = ci + di;
          const j = cj + dj;
          const px = (i + unit3(seed, i, j, SALT.stand)) * STAND_CELL;
          const py = (j + unit3(seed, i, j, SALT.stand + 1)) * STAND_CELL;
          const d = (px - x) ** 2 + (py - y) ** 2;
          if (d < best) (best = d), (bi = i), (bj = j);
        }
      }
      return stand(bi, bj);
    },
    forested(x, y) {
      return clearingField(x, y) < clearingAt && gapField(x, y) < gapAt;
    },
    clearing(x, y) {
      const v = clearingField(x, y) - clearingAt;
      return v <= -0.02 ? 0 : v >= 0.02 ? 1 : (v + 0.02) / 0.04;
    },
    clump(x, y) {
      const n = fbm(seed, SALT.clump, x / 14, y / 14, 2);
      return 1 - preset.clumping + preset.clumping * 2 * n;
    },
    roadSegments(x0, y0, x1, y1, margin) {
      const out: number[] = [];
      const i0 = Math.floor((x0 - margin) / ROAD_CELL) - 1;
      const i1 = Math.floor((x1 + margin) / ROAD_CELL) + 1;
      const j0 = Math.floor((y0 - margin) / ROAD_CELL) - 1;
      const j1 = Math.floor((y1 + margin) / ROAD_CELL) + 1;
      const addEdge = (a: [number, number], b: [number, number], salt: number, i: number, j: number) => {
        // Two segments through a jittered midpoint: tracks bend.
        const bend = (unit3(seed, i, j, salt) - 0.5) * 0.5 * ROAD_CELL;
        const mx = (a[0] + b[0]) / 2 + bend * (a[1] - b[1]) / ROAD_CELL;
        const my = (a[1] + b[1]) / 2 + bend * (b[0] - a[0]) / ROAD_CELL;
        for (const [p, q] of [[a, [mx, my]], [[mx, my], b]] as Array<[number[], number[]]>) {
          if (Math.max(p[0], q[0]) < x0 - margin || Math.min(p[0], q[0]) > x1 + margin) continue;
          if (Math.max(p[1], q[1]) < y0 - margin || Math.min(p[1], q[1]) > y1 + margin) continue;
          out.push(p[0], p[1], q[0], q[1]);
        }
      };
      for (let j = j0; j <= j1; j++) {
        for (let i = i0; i <= i1; i++) {
          const a = node(i, j);
          addEdge(a, node(i + 1, j), SALT.roadEdge, i, j); // an east-west track through every row of cells
          if (unit3(seed, i, j, SALT.roadEdge + 1) < 0.35) addEdge(a, node(i, j + 1), SALT.roadEdge + 2, i, j);
        }
      }
      return Float64Array.from(out);
    },
  };
}

/** Distance from (x, y) to the nearest of `segments` (Infinity when none). */
export function distanceToSegments(segments: Float64Array, x: number, y: number): number {
  let best = Infinity;
  for (let k = 0; k < segments.length; k += 4) {
    const ax = segments[k], ay = segments[k + 1], bx = segments[k + 2], by = segments[k + 3];
    const dx = bx - ax, dy = by - ay;
    const len2 = dx * dx + dy * dy;
    let t = len2 > 0 ? ((x - ax) * dx + (y - ay) * dy) / len2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const ex = ax + t * dx - x, ey = ay + t * dy - y;
    const d = ex * ex + ey * ey;
    if (d < best) best = d;
  }
  return Math.sqrt(best);
}
