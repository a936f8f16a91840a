/**
 * The region's rings as a whole: holes inside their exterior ring and apart from each other, and
 * the polygons of a MultiPolygon apart from each other (OGC Simple Features validity).
 *
 * Why it matters: the pipeline decides which pixels and tree tops are in the region by the
 * even-odd rule over all rings (region.ts `containsPoint`, `regionSpans`), and reports the
 * geodesic area of the polygons. For a valid region the two agree. For two overlapping polygons
 * the area counts the overlap twice while even-odd leaves it out, and a hole outside its exterior
 * ring is subtracted from the area yet counted in by even-odd. Statistics would then be wrong
 * without a word, so such regions are rejected, saying where. Rings that only touch, at points or
 * along edges, change neither and are accepted.
 *
 * How: first, an edge of one polygon properly crossing an edge of another is an overlap. Without
 * such crossings, the left-to-right order of the edges is the same all through each horizontal
 * slab between two consecutive vertex latitudes, so whether rings overlap within a slab shows on
 * its middle line: one pass along each middle line, counting which rings hold each stretch,
 * settles it. Each ring must be simple (parseRegion checks that first, polygon by polygon). Not
 * a polygon clipping library: turf's union took 75 s for 500 squares each shifted by a hair
 * (edges overlapping along their length), and a request must not be able to do that. The work
 * here is bounded (MAX_WORK); a region past it is refused with a 413.
 */
import type { MultiPolygon, Position } from 'geojson';
import { InvalidInputError, LimitExceededError } from '../errors.ts';
import { orient } from '../trees/polygons.ts';

/**
 * Degrees (~0.1 mm): an edge end closer than this to another edge's line touches it, and along a
 * middle line stretches narrower than this times max(1, |x|) are round-off between edges on one line.
 */
const EPS = 1e-9;
/** Edge pairs compared, and edge positions along middle lines computed, at most per request. */
const MAX_WORK = 3e7;

interface Edges {
  /** Lower and upper end of each edge (y0 < y1; horizontal edges are left out: no slab holds them). */
  x0: Float64Array; y0: Float64Array; x1: Float64Array; y1: Float64Array;
  ring: Int32Array;
  count: number;
}

/**
 * How errors name a region's polygons: by index in a MultiPolygon, or by the feature (and its
 * polygon) of a FeatureCollection, since a person fixes a stands layer feature by feature.
 */
export interface PolygonNames {
  /** "polygon 3", "feature 5 (id \"B7\")" */
  of(p: number): string;
  /** Two polygons in one phrase: "polygons 0 and 1", "feature 2 and feature 5" */
  pair(p: number, q: number): string;
  /** Whether two polygons belong to one feature (they are then merged, not clipped). */
  sameFeature(p: number, q: number): boolean;
}

export const MULTIPOLYGON_NAMES: PolygonNames = {
  of: (p) => `polygon ${p}`,
  pair: (p, q) => `polygons ${p} and ${q}`,
  sameFeature: () => true,
};

/** Throws InvalidInputError when polygons overlap, holes overlap, or a hole leaves its exterior ring. */
export function checkRegionTopology(g: MultiPolygon, names: PolygonNames = MULTIPOLYGON_NAMES): void {
  const polys = g.coordinates;
  if (polys.length === 1 && polys[0].length === 1) return;
  const ringPoly: number[] = [], ringIndex: number[] = [];
  polys.forEach((rings, p) => rings.forEach((_, r) => { ringPoly.push(p); ringIndex.push(r); }));
  const edges = collectEdges(polys);
  const budget = { left: MAX_WORK };
  if (polys.length > 1) {
    const crossing = firstCrossing(edges, ringPoly, budget);
    if (crossing) throw overlapError(crossing.p, crossing.q, crossing.at, names);
  }
  sweepSlabs(edges, polys, ringPoly, ringIndex, budget, names);
}

function collectEdges(polys: Position[][][]): Edges {
  let n = 0;
  for (const poly of polys) for (const ring of poly) n += ring.length - 1;
  const e: Edges = { x0: new Float64Array(n), y0: new Float64Array(n), x1: new Float64Array(n), y1: new Float64Array(n), ring: new Int32Array(n), count: 0 };
  let r = 0;
  for (const poly of polys) for (const ring of poly) {
    for (let i = 0; i + 1 < ring.length; i++) {
      let [ax, ay] = ring[i], [bx, by] = ring[i + 1];
      if (ay === by) continue;
      if (ay > by) [ax, ay, bx, by] = [bx, by, ax, ay];
      const k = e.count++;
      e.x0[k] = ax; e.y0[k] = ay; e.x1[k] = bx; e.y1[k] = by; e.ring[k] = r;
    }
    r++;
  }
  return e;
}

function spend(budget: { left: number }, work: number): void {
  budget.left -= work;
  if (budget.left < 0) {
    throw new LimitExceededError('the region is too intricate to check for overlapping polygons within the limits (too many long edges side by side); simplify it or split it into several jobs');
  }
}

/** The first edge of one polygon crossing an edge of another (interiors crossing, not touching). */
function firstCrossing(e: Edges, ringPoly: number[], budget: { left: number }): { p: number; q: number; at: Position } | null {
  const n = e.count;
  const minX = new Float64Array(n), maxX = new Float64Array(n);
  for (let k = 0; k < n; k++) { minX[k] = Math.min(e.x0[k], e.x1[k]); maxX[k] = Math.max(e.x0[k], e.x1[k]); }
  const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => minX[a] - minX[b]);
  for (let oa = 0; oa < n; oa++) {
    const a = order[oa], pa = ringPoly[e.ring[a]];
    const ax = e.x0[a], ay = e.y0[a], bx = e.x1[a], by = e.y1[a];
    let ob = oa + 1;
    for (; ob < n; ob++) {
      const b = order[ob];
      if (minX[b] > maxX[a]) break;
      if (e.y0[b] >= by || e.y1[b] <= ay || ringPoly[e.ring[b]] === pa) continue;
      const cx = e.x0[b], cy = e.y0[b], dx = e.x1[b], dy = e.y1[b];
      const d1 = orient(cx, cy, dx, dy, ax, ay), d2 = orient(cx, cy, dx, dy, bx, by);
      if (!((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0))) continue;
      const d3 = orient(ax, ay, bx, by, cx, cy), d4 = orient(ax, ay, bx, by, dx, dy);
      if (!((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) continue;
      // an end within EPS of the other edge's line is a vertex placed on a neighbour's edge and
      // rounded to one side of it: touching, not crossing
      const cd = Math.hypot(dx - cx, dy - cy) * EPS, ab = Math.hypot(bx - ax, by - ay) * EPS;
      if (Math.abs(d1) <= cd || Math.abs(d2) <= cd || Math.abs(d3) <= ab || Math.abs(d4) <= ab) continue;
      const t = d1 / (d1 - d2);
      const pb = ringPoly[e.ring[b]];
      return { p: Math.min(pa, pb), q: Math.max(pa, pb), at: [ax + t * (bx - ax), ay + t * (by - ay)] };
    }
    spend(budget, ob - oa);
  }
  return null;
}

/**
 * Along the middle line of every slab, the stretches each polygon's shell and holes hold. Per
 * polygon: shellIn (0/1) and holesIn (count); it covers a stretch when shellIn and no hole.
 */
function sweepSlabs(e: Edges, polys: Position[][][], ringPoly: number[], ringIndex: number[], budget: { left: number }, names: PolygonNames): void {
  const n = e.count, P = polys.length;
  const byStart = Array.from({ length: n }, (_, k) => k).sort((a, b) => e.y0[a] - e.y0[b]);
  const ys = Float64Array.from(new Set([...e.y0, ...e.y1])).sort();
  const shellIn = new Uint8Array(P), holesIn = new Int32Array(P), ringIn = new Uint8Array(ringPoly.length);
  const xs = new Float64Array(n);
  let active: number[] = [], next = 0;
  for (let s = 0; s + 1 < ys.length; s++) {
    const lo = ys[s], hi = ys[s + 1];
    active = active.filter((k) => e.y1[k] > lo);
    while (next < n && e.y0[byStart[next]] <= lo) active.push(byStart[next++]);
    if (active.length === 0) continue;
    spend(budget, active.length);
    const m = (lo + hi) / 2;
    for (const k of active) xs[k] = e.x0[k] + ((m - e.y0[k]) / (e.y1[k] - e.y0[k])) * (e.x1[k] - e.x0[k]);
    active.sort((a, b) => xs[a] - xs[b]);
    // counters over polygons: covering the stretch, with two holes on it, with a hole off the shell
    let covering = 0, holesOverlap = 0, holeOutside = 0;
    const tally = (p: number, sign: number) => {
      if (shellIn[p] && holesIn[p] === 0) covering += sign;
      if (holesIn[p] >= 2) holesOverlap += sign;
      if (holesIn[p] >= 1 && !shellIn[p]) holeOutside += sign;
    };
    for (let i = 0; i < active.length;) {
      const x = xs[active[i]];
      for (; i < active.length && xs[active[i]] === x; i++) {
        const r = e.ring[active[i]], p = ringPoly[r];
        tally(p, -1);
        if (ringIndex[r] === 0) shellIn[p] ^= 1;
        else holesIn[p] += ringIn[r] ? -1 : 1;
        ringIn[r] ^= 1;
        tally(p, 1);
      }
      if (i === active.length) break;
      const nx = xs[active[i]];
      if (nx - x <= EPS * Math.max(1, Math.abs(x))) continue;
      if (covering < 2 && holesOverlap === 0 && holeOutside === 0) continue;
      throw slabError(polys, shellIn, holesIn, ringIn, ringPoly, ringIndex, [(x + nx) / 2, m], names);
    }
  }
}

function slabError(polys: Position[][][], shellIn: Uint8Array, holesIn: Int32Array, ringIn: Uint8Array, ringPoly: number[], ringIndex: number[], at: Position, names: PolygonNames): InvalidInputError {
  const holesOn = (p: number) => ringPoly.flatMap((q, r) => (q === p && ringIndex[r] > 0 && ringIn[r] ? [ringIndex[r]] : []));
  for (let p = 0; p < polys.length; p++) {
    if (holesIn[p] >= 2) {
      const [a, b] = holesOn(p);
      return new InvalidInputError(`${names.of(p)}: holes (rings ${a} and ${b}) overlap near ${where(at)}; holes must not overlap`, { polygon: p, rings: [a, b], at });
    }
    if (holesIn[p] >= 1 && !shellIn[p]) {
      const [a] = holesOn(p);
      return new InvalidInputError(`${names.of(p)}: ring ${a}, a hole, reaches outside the exterior ring near ${where(at)}; holes must lie inside their polygon's exterior ring`, { polygon: p, ring: a, at });
    }
  }
  const covering: number[] = [];
  for (let p = 0; p < polys.length; p++) if (shellIn[p] && holesIn[p] === 0) covering.push(p);
  return overlapError(covering[0], covering[1], at, names);
}

function overlapError(p: number, q: number, at: Position, names: PolygonNames): InvalidInputError {
  const rule = names.sameFeature(p, q)
    ? 'the polygons of a MultiPolygon must not overlap (merge them into one)'
    : 'the features of a region must not overlap (clip one by the other, or merge them)';
  return new InvalidInputError(`region ${names.pair(p, q)} overlap near ${where(at)}; ${rule}`, { polygons: [p, q], at });
}

/** A position for an error message: `[lon, lat]` to 7 decimals (about 1 cm). */
export function where([x, y]: Position): string {
  return `[${x.toFixed(7)}, ${y.toFixed(7)}]`;
}
