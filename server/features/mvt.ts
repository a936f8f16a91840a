/**
 * Vector tiles (MVT) of tree tops and crowns. A tile is cut from just the trees the store returns
 * for the tile's bbox (plus a buffer), so the cost of a tile depends on the trees in it, never on
 * the raster's total: a million trees stay smooth.
 *
 * Features are projected straight into the tile's integer grid and handed to vt-pbf in geojson-vt's
 * tile layout. geojson-vt itself is not in the path: indexing a tile's trees from zoom 0 down to
 * the requested zoom clipped every feature at each level and cost 1-2.5 s for a z15 tile of 30 000
 * crowns (bench/trees.tiles.ts); a crown is tiny next to a tile, so no clipping is needed beyond
 * dropping what lies outside the buffer.
 *
 * Layers: `tree_tops` (points) and `tree_crowns` (polygons), each feature carrying id, height_m,
 * crown_area_m2 and crown_diameter_m from CROWNS_MIN_ZOOM (below it only height_m and
 * crown_diameter_m, rounded to 0.1 m, which is what the dots are styled by). Below TOPS_MIN_ZOOM a tile would hold too many trees to be
 * useful and is empty; crowns start at CROWNS_MIN_ZOOM where they are a few pixels wide.
 */
import { fromGeojsonVt } from '@maplibre/vt-pbf';
import type { MultiPolygon, Polygon, Position } from 'geojson';
import { isValidTile, mercatorToLonLat, tileBounds, type TileXyz } from '../../tiles/tile.matrix.set.ts';
import { roundTo as round } from './decimals.ts';

export const TREE_TOPS_LAYER = 'tree_tops';
export const TREE_CROWNS_LAYER = 'tree_crowns';
export const TOPS_MIN_ZOOM = 13;
export const CROWNS_MIN_ZOOM = 17;
/** Deepest zoom tiles are cut at; the client overzooms beyond it. */
export const TREES_MAX_ZOOM = 20;
/** Most tops one tile carries; above it the tallest are kept (they dominate the overview). */
export const MAX_TREES_PER_TILE = 20_000;
const EXTENT = 4096;
/** Tile buffer in extent units: circles and outlines near an edge draw across it without seams. */
const BUFFER = 256;
/** Crown vertices snap to this many extent units: half a pixel of a 512 px tile. */
const SNAP = 4;
/**
 * Douglas-Peucker tolerance for crown rings, in extent units (one pixel of a 512 px tile). Pixel-
 * edge crowns carry a vertex per stair step; at the zoom where a step is under a pixel those
 * vertices cost encoding time and bytes and show nothing (a z16 tile of 3 400 crowns went from
 * 96 000 vertices to a fraction of that).
 */
const SIMPLIFY = 8;

/** Douglas-Peucker on a closed ring (first point repeated last), iterative. */
export function simplifyClosed(ring: Xy[], tol: number): Xy[] {
  const n = ring.length;
  if (n <= 4) return ring;
  const keep = new Uint8Array(n);
  keep[0] = keep[n - 1] = 1;
  // a closed ring's ends coincide: split it at the vertex farthest from the start first
  let far = 0, farD = -1;
  for (let i = 1; i < n - 1; i++) {
    const d = (ring[i][0] - ring[0][0]) ** 2 + (ring[i][1] - ring[0][1]) ** 2;
    if (d > farD) { farD = d; far = i; }
  }
  keep[far] = 1;
  const stack: Array<[number, number]> = [[0, far], [far, n - 1]];
  const tol2 = tol * tol;
  while (stack.length) {
    const [a, b] = stack.pop()!;
    let idx = -1, maxD = tol2;
    for (let i = a + 1; i < b; i++) {
      const d = segmentDistance2(ring[i], ring[a], ring[b]);
      if (d > maxD) { maxD = d; idx = i; }
    }
    if (idx >= 0) {
      keep[idx] = 1;
      stack.push([a, idx], [idx, b]);
    }
  }
  const out: Xy[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(ring[i]);
  return out;
}

function segmentDistance2(p: Xy, a: Xy, b: Xy): number {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  let t = len2 ? ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2 : 0;
  t = Math.max(0, Math.min(1, t));
  return (p[0] - a[0] - t * dx) ** 2 + (p[1] - a[1] - t * dy) ** 2;
}

/** One tree as the tiles need it, in WGS84. */
export interface TileTree {
  id: number | string;
  lon: number;
  lat: number;
  height_m: number;
  crown_area_m2: number;
  crown_diameter_m: number;
  crown?: Polygon | MultiPolygon | null;
}

export type Bbox = [number, number, number, number];

/** The tile's WGS84 bbox grown by the tile buffer, for the store query. */
export function treeTileQueryBbox(tile: TileXyz): Bbox {
  const b = tileBounds(tile);
  const pad = ((b.maxX - b.minX) * BUFFER) / EXTENT;
  const [w, s] = mercatorToLonLat(b.minX - pad, b.minY - pad);
  const [e, n] = mercatorToLonLat(b.maxX + pad, b.maxY + pad);
  return [w, s, e, n];
}

/**
 * Keeps at most `max` trees, the tallest, in their given order (so the store's deterministic
 * order decides ties). Linear apart from one typed-array sort of the heights: a z13 tile can hold
 * hundreds of thousands of trees.
 */
export function thinTrees(trees: TileTree[], max: number): TileTree[] {
  if (trees.length <= max) return trees;
  if (max <= 0) return [];
  const heights = new Float64Array(trees.length);
  for (let i = 0; i < trees.length; i++) heights[i] = trees[i].height_m;
  heights.sort();
  const threshold = heights[trees.length - max];
  let above = 0;
  for (const t of trees) if (t.height_m > threshold) above++;
  let ties = max - above;
  const kept: TileTree[] = [];
  for (const t of trees) {
    if (t.height_m > threshold) kept.push(t);
    else if (t.height_m === threshold && ties > 0) {
      kept.push(t);
      ties--;
    }
  }
  return kept;
}


/**
 * Feature properties. Close up every tree carries all its numbers (the click popup reads them);
 * in overview tiles only what styles a dot, at 0.1 m, because distinct values are what make an
 * MVT large and slow to encode (each goes into the layer's value table).
 */
function tags(t: TileTree, detailed: boolean): Record<string, number | string> {
  if (!detailed) return { height_m: round(t.height_m, 1), crown_diameter_m: round(t.crown_diameter_m, 1) };
  return {
    id: typeof t.id === 'number' ? t.id : String(t.id),
    height_m: round(t.height_m, 2),
    crown_area_m2: round(t.crown_area_m2, 1),
    crown_diameter_m: round(t.crown_diameter_m, 2),
  };
}

type Xy = [number, number];
interface TileFeature {
  id?: number;
  type: 1 | 3;
  geometry: Xy[] | Xy[][];
  tags: Record<string, number | string>;
}

/** WGS84 -> integer coordinates in a tile's extent (Web Mercator, y down). */
export function tileProjector(tile: TileXyz): (lon: number, lat: number) => Xy {
  const n = 2 ** tile.z;
  return (lon, lat) => {
    const sin = Math.sin((Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180);
    const x = (lon + 180) / 360;
    const y = 0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI);
    return [Math.round((x * n - tile.x) * EXTENT), Math.round((y * n - tile.y) * EXTENT)];
  };
}

function inBuffer([x, y]: Xy): boolean {
  return x >= -BUFFER && x <= EXTENT + BUFFER && y >= -BUFFER && y <= EXTENT + BUFFER;
}

/** Twice the signed area in tile coordinates (y down): positive for a ring clockwise on screen. */
function signedArea2(ring: Xy[]): number {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) a += ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
  return a;
}

/**
 * A ring in tile coordinates: repeated points dropped, closed, wound as MVT wants (exterior
 * clockwise on screen, holes anticlockwise). Null when it collapses at this zoom.
 */
function tileRing(ring: Position[], project: (lon: number, lat: number) => Xy, exterior: boolean): Xy[] | null {
  const out: Xy[] = [];
  for (const p of ring) {
    const [x, y] = project(p[0], p[1]);
    // snap to half a screen pixel: pixel-edge crowns lose sub-pixel stair steps, not their shape
    const q: Xy = [Math.round(x / SNAP) * SNAP, Math.round(y / SNAP) * SNAP];
    const last = out[out.length - 1];
    if (last && last[0] === q[0] && last[1] === q[1]) continue;
    // a point in line with the two before it adds nothing
    const prev = out[out.length - 2];
    if (prev && (last[0] - prev[0]) * (q[1] - last[1]) === (last[1] - prev[1]) * (q[0] - last[0])) out[out.length - 1] = q;
    else out.push(q);
  }
  if (out.length > 1 && out[0][0] === out[out.length - 1][0] && out[0][1] === out[out.length - 1][1]) out.pop();
  if (out.length < 3) return null;
  out.push(out[0]);
  const simple = simplifyClosed(out, SIMPLIFY);
  out.length = 0;
  out.push(...simple.slice(0, -1));
  if (out.length < 3) return null;
  const area = signedArea2(out);
  if (area === 0) return null;
  if ((area > 0) !== exterior) out.reverse();
  out.push(out[0]);
  return out;
}

function crownRings(crown: Polygon | MultiPolygon, project: (lon: number, lat: number) => Xy): Xy[][] {
  const polygons = crown.type === 'Polygon' ? [crown.coordinates] : crown.coordinates;
  const rings: Xy[][] = [];
  for (const poly of polygons) {
    const outer = tileRing(poly[0], project, true);
    if (!outer) continue;
    rings.push(outer);
    for (const hole of poly.slice(1)) {
      const r = tileRing(hole, project, false);
      if (r) rings.push(r);
    }
  }
  return rings;
}

/**
 * Encodes the trees of one tile as an MVT (protobuf). Returns null when the tile holds no tree
 * (the route answers 204).
 */
export function encodeTreeTile(trees: TileTree[], tile: TileXyz): Uint8Array | null {
  if (!isValidTile(tile)) throw new RangeError(`no such tile ${tile.z}/${tile.x}/${tile.y}`);
  if (tile.z < TOPS_MIN_ZOOM || trees.length === 0) return null;
  const project = tileProjector(tile);
  const withCrowns = tile.z >= CROWNS_MIN_ZOOM;
  const tops: TileFeature[] = [];
  const crowns: TileFeature[] = [];
  for (const t of thinTrees(trees, MAX_TREES_PER_TILE)) {
    const p = project(t.lon, t.lat);
    if (!inBuffer(p)) continue;
    const id = typeof t.id === 'number' && Number.isInteger(t.id) && t.id >= 0 ? t.id : undefined;
    const tg = tags(t, withCrowns);
    tops.push({ id, type: 1, geometry: [p], tags: tg });
    if (withCrowns && t.crown) {
      const rings = crownRings(t.crown, project);
      if (rings.length) crowns.push({ id, type: 3, geometry: rings, tags: tg });
    }
  }
  if (!tops.length) return null;
  const layers = { [TREE_TOPS_LAYER]: { features: tops }, [TREE_CROWNS_LAYER]: { features: crowns } };
  return fromGeojsonVt(layers as never, { version: 2, extent: EXTENT });
}

/**
 * Encoded tiles kept in memory, keyed by raster and version, so a replaced raster or recomputed
 * trees never serve stale tiles. In-flight encodes are shared: a burst of requests for one tile
 * does the work once.
 */
export class TreeTileCache {
  private readonly entries = new Map<string, Promise<Uint8Array | null>>();
  private bytes = 0;
  private readonly sizes = new Map<string, number>();

  constructor(private readonly maxBytes = 64 * 1024 * 1024) {}

  get(rasterKey: string, version: string | number, tile: TileXyz, load: () => Promise<TileTree[]>): Promise<Uint8Array | null> {
    const key = `${rasterKey}@${version}/${tile.z}/${tile.x}/${tile.y}`;
    const hit = this.entries.get(key);
    if (hit) {
      // refresh recency: Map iteration order is insertion order, so re-insert
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const p = load().then((trees) => encodeTreeTile(trees, tile));
    this.entries.set(key, p);
    p.then(
      (buf) => {
        if (this.entries.get(key) !== p) return;
        const size = (buf?.byteLength ?? 0) + 64;
        this.sizes.set(key, size);
        this.bytes += size;
        this.evict();
      },
      () => {
        // a failed load is not cached: the next request retries
        if (this.entries.get(key) === p) this.entries.delete(key);
      },
    );
    return p;
  }

  /** Drops every tile of a raster (all versions). */
  invalidate(rasterKey: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(`${rasterKey}@`)) this.drop(key);
  }

  private drop(key: string): void {
    this.entries.delete(key);
    this.bytes -= this.sizes.get(key) ?? 0;
    this.sizes.delete(key);
  }

  private evict(): void {
    for (const key of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break;
      if (this.sizes.has(key)) this.drop(key);
    }
  }
}
