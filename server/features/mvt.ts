/**
 * Vector tiles (MVT) of tree tops and crowns. A tile is cut from just the trees the store returns
 * for the tile's bbox (plus a buffer), so the cost of a tile depends on the trees in it, never on
 * the raster's total: a million trees stay smooth. geojson-vt clips and quantises; vt-pbf encodes.
 *
 * Layers: `tree_tops` (points) and `tree_crowns` (polygons), each feature carrying id, height_m,
 * crown_area_m2 and crown_diameter_m. Below TOPS_MIN_ZOOM a tile would hold too many trees to be
 * useful and is empty; crowns start at CROWNS_MIN_ZOOM where they are a few pixels wide.
 */
import GeoJSONVT from 'geojson-vt';
import { fromGeojsonVt } from '@maplibre/vt-pbf';
import type { Feature, MultiPolygon, Polygon } from 'geojson';
import { isValidTile, mercatorToLonLat, tileBounds, type TileXyz } from '../../tiles/tile.matrix.set.ts';

export const TREE_TOPS_LAYER = 'tree_tops';
export const TREE_CROWNS_LAYER = 'tree_crowns';
export const TOPS_MIN_ZOOM = 12;
export const CROWNS_MIN_ZOOM = 15;
/** Deepest zoom tiles are cut at; the client overzooms beyond it. */
export const TREES_MAX_ZOOM = 22;
/** Most tops one tile carries; above it the tallest are kept (they dominate the overview). */
export const MAX_TREES_PER_TILE = 40_000;
const EXTENT = 4096;
/** Tile buffer in extent units: circles and outlines near an edge draw across it without seams. */
const BUFFER = 256;

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

/** Keeps at most `max` trees, tallest first, in a stable order so neighbouring tiles agree. */
export function thinTrees(trees: TileTree[], max: number): TileTree[] {
  if (trees.length <= max) return trees;
  return [...trees].sort((a, b) => b.height_m - a.height_m || String(a.id).localeCompare(String(b.id))).slice(0, max);
}

function properties(t: TileTree) {
  return {
    id: typeof t.id === 'number' ? t.id : String(t.id),
    height_m: round2(t.height_m),
    crown_area_m2: round2(t.crown_area_m2),
    crown_diameter_m: round2(t.crown_diameter_m),
  };
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

/** geojson-vt cuts one tile: an index over just these features, drilled down to (z, x, y). */
function cut(features: Feature[], tile: TileXyz) {
  if (features.length === 0) return null;
  const index = new GeoJSONVT(
    { type: 'FeatureCollection', features },
    { maxZoom: tile.z, indexMaxZoom: 0, indexMaxPoints: 0, extent: EXTENT, buffer: BUFFER, tolerance: 1 },
  );
  return index.getTile(tile.z, tile.x, tile.y);
}

/**
 * Encodes the trees of one tile as an MVT (protobuf). Returns null when the tile holds no tree
 * (the route answers 204).
 */
export function encodeTreeTile(trees: TileTree[], tile: TileXyz): Uint8Array | null {
  if (!isValidTile(tile)) throw new RangeError(`no such tile ${tile.z}/${tile.x}/${tile.y}`);
  if (tile.z < TOPS_MIN_ZOOM || trees.length === 0) return null;
  const kept = thinTrees(trees, MAX_TREES_PER_TILE);
  const tops: Feature[] = kept.map((t) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: [t.lon, t.lat] }, properties: properties(t) }));
  const crowns: Feature[] = tile.z >= CROWNS_MIN_ZOOM
    ? kept.filter((t) => t.crown).map((t) => ({ type: 'Feature', geometry: t.crown!, properties: properties(t) }))
    : [];
  const topsTile = cut(tops, tile);
  const crownsTile = cut(crowns, tile);
  if (!topsTile?.features.length && !crownsTile?.features.length) return null;
  const layers: Record<string, { features: unknown[] }> = {
    [TREE_TOPS_LAYER]: topsTile ?? { features: [] },
    [TREE_CROWNS_LAYER]: crownsTile ?? { features: [] },
  };
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
