/**
 * The region a user asks to process: validation of the input (a GeoJSON Polygon / MultiPolygon in
 * WGS84, a Feature or FeatureCollection of them, or a bbox), and the pure geometry the pipeline needs afterwards:
 * the region in a raster's CRS, point-in-region for tree tops, and a pixel mask for CHM statistics.
 *
 * Validation errors say exactly what is wrong (which polygon, which ring, which position), because
 * the reader is a person who drew or exported the region in some other tool.
 */
import { area as geodesicArea, kinks } from '@turf/turf';
import type { MultiPolygon, Position } from 'geojson';
import { InvalidInputError, LimitExceededError } from '../errors.ts';
import type { Affine, Grid, Window } from '../raster/types.ts';
import { checkRegionTopology, MULTIPOLYGON_NAMES, where, type PolygonNames } from './region.topology.ts';
import { regionInWgs84 } from './region.crs.ts';

export type Bbox = [number, number, number, number];

/** A validated region: always a MultiPolygon in WGS84 lon/lat, exterior rings counter-clockwise. */
export interface Region {
  geometry: MultiPolygon;
  bbox: Bbox;
  /** Geodesic area in m² (turf's area on the WGS84 ellipsoid approximation). */
  areaM2: number;
  /**
   * The features of a region given as a FeatureCollection of two or more (a farm's stands, a
   * project's strata), in order: each owns the next `polygons` polygons of the geometry. Absent
   * for a region of one feature or a bare geometry.
   */
  parts?: RegionPart[];
}

export interface RegionPart {
  /** Index of the feature in the FeatureCollection. */
  feature: number;
  /** The feature's id and properties as given (RFC 7946: a string or number id; an object). */
  id: string | number | null;
  properties: Record<string, unknown> | null;
  polygons: number;
  areaM2: number;
}

export interface RegionLimits {
  /** Largest accepted region, km². */
  maxAreaKm2: number;
  /** Most positions in all rings together: bounds the work a request can cause. */
  maxVertices: number;
}

export const defaultRegionLimits: RegionLimits = { maxAreaKm2: 25, maxVertices: 20000 };

/**
 * Parses and validates a region given as GeoJSON geometry, Feature, or bbox array
 * [minLon, minLat, maxLon, maxLat]. GeoJSON that names another CRS in a (GeoJSON 2008) `crs`
 * member is projected to WGS84 first (region.crs.ts). Throws InvalidInputError (malformed) or
 * LimitExceededError (too large) with the reason.
 */
export function parseRegion(given: unknown, limits: RegionLimits = defaultRegionLimits): Region {
  const input = regionInWgs84(given);
  let geometry: MultiPolygon;
  const features: FeatureOfRegion[] = [];
  if (Array.isArray(input)) geometry = { type: 'MultiPolygon', coordinates: [bboxPolygon(parseBbox(input))] };
  else geometry = parseGeometry(input, features);
  let vertices = 0;
  for (const poly of geometry.coordinates) for (const ring of poly) vertices += ring.length;
  if (vertices > limits.maxVertices) {
    throw new LimitExceededError(`region has ${vertices} vertices; at most ${limits.maxVertices} are accepted`, { vertices, maxVertices: limits.maxVertices });
  }
  const names = features.length > 1 ? featureNames(features) : MULTIPOLYGON_NAMES;
  geometry.coordinates.forEach((poly, p) => checkPolygonRings(poly, names.of(p)));
  for (let p = 0; p < geometry.coordinates.length; p++) {
    const k = kinks({ type: 'Polygon', coordinates: geometry.coordinates[p] });
    if (k.features.length > 0) {
      const at = k.features[0].geometry.coordinates;
      throw new InvalidInputError(`region ${names.of(p)} intersects itself near ${where(at)}`, { polygon: p, at });
    }
  }
  geometry.coordinates.forEach((poly, p) => poly.forEach((ring, r) => {
    if (signedArea(ring) === 0) throw new InvalidInputError(`${names.of(p)} ring ${r}: ring has zero area`);
  }));
  checkRegionTopology(geometry, names);
  const normalised: MultiPolygon = { type: 'MultiPolygon', coordinates: geometry.coordinates.map(orientPolygon) };
  const areaM2 = geodesicArea(normalised);
  if (!(areaM2 > 0)) throw new InvalidInputError('region has zero area');
  if (areaM2 > limits.maxAreaKm2 * 1e6) {
    throw new LimitExceededError(`region area ${(areaM2 / 1e6).toFixed(3)} km² exceeds the limit of ${limits.maxAreaKm2} km²`, { areaKm2: areaM2 / 1e6, maxAreaKm2: limits.maxAreaKm2 });
  }
  const region: Region = { geometry: normalised, bbox: bboxOf(normalised), areaM2 };
  if (features.length > 1) {
    let first = 0;
    region.parts = features.map((f, k) => {
      const polygons = normalised.coordinates.slice(first, first + f.polygons);
      first += f.polygons;
      return { feature: k, id: f.id, properties: f.properties, polygons: f.polygons, areaM2: geodesicArea({ type: 'MultiPolygon', coordinates: polygons }) };
    });
  }
  return region;
}

/**
 * The planar region of each part of `region` (which `planar` is, projected): the parts' rings as
 * they lie in it, so each part is not projected again and holds exactly the union's coordinates.
 */
export function planarParts(region: Region, planar: PlanarRegion): PlanarRegion[] {
  let ring = 0, polygon = 0;
  return (region.parts ?? []).map((part) => {
    let rings = 0;
    for (let k = 0; k < part.polygons; k++) rings += region.geometry.coordinates[polygon + k].length;
    polygon += part.polygons;
    const own = planar.rings.slice(ring, ring + rings);
    ring += rings;
    return { rings: own, bbox: ringsBbox(own) };
  });
}

function ringsBbox(rings: Float64Array[]): Bbox {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (const r of rings) for (let i = 0; i < r.length; i += 2) {
    const x = r[i], y = r[i + 1];
    if (x < w) w = x; if (x > e) e = x; if (y < s) s = y; if (y > n) n = y;
  }
  return [w, s, e, n];
}

/** "feature 5", or "feature 5 (id \"B7\")" when it has an id. */
function featureName(index: number, id: unknown): string {
  return typeof id === 'string' || typeof id === 'number' ? `feature ${index} (id ${JSON.stringify(id)})` : `feature ${index}`;
}

/** A FeatureCollection's polygons named by their feature, and by their place in it when it has several. */
function featureNames(features: FeatureOfRegion[]): PolygonNames {
  const owner: Array<[number, number]> = [];
  features.forEach((f, i) => { for (let k = 0; k < f.polygons; k++) owner.push([i, k]); });
  const of = (p: number) => {
    const [i, k] = owner[p];
    return `${featureName(i, features[i].id)}${features[i].polygons > 1 ? ` polygon ${k}` : ''}`;
  };
  return { of, pair: (p, q) => `${of(p)} and ${of(q)}`, sameFeature: (p, q) => owner[p][0] === owner[q][0] };
}

/** A FeatureCollection's feature as parsing meets it: how many polygons it gave, its id and properties. */
interface FeatureOfRegion {
  polygons: number;
  id: string | number | null;
  properties: Record<string, unknown> | null;
}

function parseBbox(input: unknown[]): Bbox {
  if (input.length !== 4) throw new InvalidInputError(`bbox must be [minLon, minLat, maxLon, maxLat], got ${input.length} numbers`);
  if (!input.every((v) => typeof v === 'number' && Number.isFinite(v))) throw new InvalidInputError('bbox values must be finite numbers');
  const [w, s, e, n] = input as number[];
  checkLonLat([w, s], 'bbox min corner');
  checkLonLat([e, n], 'bbox max corner');
  if (!(w < e)) throw new InvalidInputError(`bbox minLon ${w} must be less than maxLon ${e} (regions across the antimeridian are not supported)`);
  if (!(s < n)) throw new InvalidInputError(`bbox minLat ${s} must be less than maxLat ${n}`);
  return [w, s, e, n];
}

function bboxPolygon([w, s, e, n]: Bbox): Position[][] {
  return [[[w, s], [e, s], [e, n], [w, n], [w, s]]];
}

/** The input's polygons; a FeatureCollection's features are listed in `features` as they are read. */
function parseGeometry(input: unknown, features?: FeatureOfRegion[]): MultiPolygon {
  if (typeof input !== 'object' || input === null) throw new InvalidInputError('region must be a GeoJSON Polygon or MultiPolygon (or a Feature or FeatureCollection of them) or a bbox array');
  const obj = input as Record<string, unknown>;
  if (obj.type === 'Feature') {
    // RFC 7946 allows a null geometry (an unlocated feature): it cannot be a region either
    if (obj.geometry === undefined || obj.geometry === null) throw new InvalidInputError('region Feature has no geometry');
    return parseGeometry(obj.geometry);
  }
  // what GIS tools export: the features' polygons make one MultiPolygon (and must not overlap)
  if (obj.type === 'FeatureCollection') {
    if (!Array.isArray(obj.features) || obj.features.length === 0) throw new InvalidInputError('region FeatureCollection has no features');
    const polygons: Position[][][] = [];
    obj.features.forEach((f: unknown, i: number) => {
      const g = (f as { geometry?: { type?: unknown } } | null)?.geometry;
      if (g?.type !== 'Polygon' && g?.type !== 'MultiPolygon') {
        throw new InvalidInputError(`region FeatureCollection: feature ${i} must be a Polygon or MultiPolygon, got ${JSON.stringify(g?.type ?? null)}`);
      }
      let own: Position[][][];
      try {
        own = parseGeometry(g).coordinates;
      } catch (err) {
        // "polygon 0 ring 2 ..." means little in a layer of hundreds of stands: say which feature
        if (err instanceof InvalidInputError) throw new InvalidInputError(`region FeatureCollection: ${featureName(i, (f as { id?: unknown }).id)}: ${err.message}`, err.details);
        throw err;
      }
      polygons.push(...own);
      const { id, properties } = f as { id?: unknown; properties?: unknown };
      features?.push({
        polygons: own.length,
        id: typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null,
        properties: typeof properties === 'object' && properties !== null && !Array.isArray(properties) ? properties as Record<string, unknown> : null,
      });
    });
    return { type: 'MultiPolygon', coordinates: polygons };
  }
  if (obj.type === 'Polygon') return { type: 'MultiPolygon', coordinates: [parseRings(obj.coordinates, 0)] };
  if (obj.type === 'MultiPolygon') {
    if (!Array.isArray(obj.coordinates) || obj.coordinates.length === 0) throw new InvalidInputError('MultiPolygon coordinates must be a non-empty array of polygons');
    return { type: 'MultiPolygon', coordinates: obj.coordinates.map((p, i) => parseRings(p, i)) };
  }
  // an OGC bounding box object ({"bbox": [...]}) is what the separate bbox input takes
  if (obj.type === undefined && 'bbox' in obj) throw new InvalidInputError('region is a bounding box object, not GeoJSON: give it as the input "bbox" instead, or as region: [minLon, minLat, maxLon, maxLat]');
  throw new InvalidInputError(`region type must be Polygon or MultiPolygon, got ${JSON.stringify(obj.type ?? null)}`);
}

function parseRings(rings: unknown, p: number): Position[][] {
  if (!Array.isArray(rings) || rings.length === 0) throw new InvalidInputError(`polygon ${p}: coordinates must be a non-empty array of linear rings`);
  return rings.map((ring, r) => {
    if (!Array.isArray(ring)) throw new InvalidInputError(`polygon ${p} ring ${r}: must be an array of positions`);
    return ring.map((pos, i) => {
      if (!Array.isArray(pos) || pos.length < 2 || pos.length > 3 || !pos.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw new InvalidInputError(`polygon ${p} ring ${r} position ${i}: must be [lon, lat] with finite numbers`);
      }
      checkLonLat(pos as number[], `polygon ${p} ring ${r} position ${i}`);
      return [pos[0] as number, pos[1] as number];
    });
  });
}

function checkLonLat(pos: number[], where: string): void {
  if (pos[0] < -180 || pos[0] > 180) throw new InvalidInputError(`${where}: longitude ${pos[0]} is outside [-180, 180] (coordinates must be WGS84 lon/lat, or the region must name its CRS in a GeoJSON crs member)`);
  if (pos[1] < -90 || pos[1] > 90) throw new InvalidInputError(`${where}: latitude ${pos[1]} is outside [-90, 90] (coordinates must be WGS84 lon/lat, or the region must name its CRS in a GeoJSON crs member)`);
}

function checkPolygonRings(poly: Position[][], name: string): void {
  poly.forEach((ring, r) => {
    if (ring.length < 4) throw new InvalidInputError(`${name} ring ${r}: a linear ring needs at least 4 positions, got ${ring.length}`);
    const a = ring[0], b = ring[ring.length - 1];
    if (a[0] !== b[0] || a[1] !== b[1]) throw new InvalidInputError(`${name} ring ${r}: ring is not closed (first and last positions differ)`);
  });
}

/** Shoelace area, positive when counter-clockwise (x east, y north). */
export function signedArea(ring: ArrayLike<number[]> | Position[]): number {
  let s = 0;
  const n = ring.length;
  for (let i = 0, j = n - 1; i < n; j = i++) s += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
  return s / 2;
}

/** RFC 7946 winding: exterior counter-clockwise, holes clockwise. */
function orientPolygon(poly: Position[][]): Position[][] {
  return poly.map((ring, r) => {
    const ccw = signedArea(ring) > 0;
    return (r === 0) === ccw ? ring : [...ring].reverse();
  });
}

function bboxOf(g: MultiPolygon): Bbox {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (const poly of g.coordinates) for (const [x, y] of poly[0]) {
    if (x < w) w = x; if (x > e) e = x; if (y < s) s = y; if (y > n) n = y;
  }
  return [w, s, e, n];
}

/** A region's rings in some planar CRS (a raster's), as flat [x0, y0, x1, y1, ...] arrays. */
export interface PlanarRegion {
  /** Every ring of every polygon; even-odd over all rings equals the MultiPolygon's interior. */
  rings: Float64Array[];
  bbox: Bbox;
}

/**
 * Projects the region into a raster's CRS. Edges are densified first (every ring edge split so no
 * piece is longer than `maxSegmentDeg`) so a straight lon/lat edge stays close to its projected
 * curve.
 */
export function regionToPlanar(region: Region, toPlanar: (lon: number, lat: number) => [number, number], maxSegmentDeg = 0.0005): PlanarRegion {
  const rings: Float64Array[] = [];
  for (const poly of region.geometry.coordinates) for (const ring of poly) {
    const out: number[] = [];
    for (let i = 0; i + 1 < ring.length; i++) {
      const [x0, y0] = ring[i], [x1, y1] = ring[i + 1];
      const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0)) / maxSegmentDeg));
      for (let k = 0; k < steps; k++) out.push(...toPlanar(x0 + ((x1 - x0) * k) / steps, y0 + ((y1 - y0) * k) / steps));
    }
    rings.push(Float64Array.from(out));
  }
  return { rings, bbox: ringsBbox(rings) };
}

/** Even-odd point-in-region in planar coordinates. A point exactly on an edge counts by the half-open rule. */
export function containsPoint(region: PlanarRegion, x: number, y: number): boolean {
  const [w, s, e, n] = region.bbox;
  if (x < w || x > e || y < s || y > n) return false;
  let inside = false;
  for (const ring of region.rings) {
    const m = ring.length / 2;
    for (let i = 0, j = m - 1; i < m; j = i++) {
      const xi = ring[2 * i], yi = ring[2 * i + 1], xj = ring[2 * j], yj = ring[2 * j + 1];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
  }
  return inside;
}

/** Inverse of a GDAL affine: planar (x, y) to fractional pixel (col, row). */
export function toPixel(t: Affine, x: number, y: number): [number, number] {
  const det = t[1] * t[5] - t[2] * t[4];
  const dx = x - t[0], dy = y - t[3];
  return [(t[5] * dx - t[2] * dy) / det, (-t[4] * dx + t[1] * dy) / det];
}

/**
 * Calls `onSpan(row, c0, c1)` for each run of pixels c0..c1 (inclusive, window coordinates) of
 * `window` whose centres lie in the region. Scanline fill in pixel space (the region is mapped
 * through the inverse affine first), so it is exact for rotated grids too and costs
 * O(edges x rows + spans). Spans come in row-major order and never overlap. Returning false from
 * onSpan stops the scan.
 */
export function regionSpans(region: PlanarRegion, grid: Grid, window: Window, onSpan: (row: number, c0: number, c1: number) => boolean | void): void {
  const { width, height } = window;
  const pixRings = region.rings.map((ring) => {
    const out = new Float64Array(ring.length);
    for (let i = 0; i < ring.length; i += 2) {
      const [c, r] = toPixel(grid.transform, ring[i], ring[i + 1]);
      out[i] = c - window.x;
      out[i + 1] = r - window.y;
    }
    return out;
  });
  const xs: number[] = [];
  for (let row = 0; row < height; row++) {
    const y = row + 0.5;
    xs.length = 0;
    for (const ring of pixRings) {
      const m = ring.length / 2;
      for (let i = 0, j = m - 1; i < m; j = i++) {
        const yi = ring[2 * i + 1], yj = ring[2 * j + 1];
        if ((yi > y) !== (yj > y)) xs.push(ring[2 * i] + ((ring[2 * j] - ring[2 * i]) * (y - yi)) / (yj - yi));
      }
    }
    if (xs.length === 0) continue;
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // pixel centre c + 0.5 inside [xs[k], xs[k+1]): the same half-open rule as containsPoint
      const c0 = Math.max(0, Math.ceil(xs[k] - 0.5));
      const c1 = Math.min(width - 1, Math.ceil(xs[k + 1] - 0.5) - 1);
      if (c1 >= c0 && onSpan(row, c0, c1) === false) return;
    }
  }
}

/** The pixel window of `grid` covering the region's planar bbox (clipped to the grid), or null if they miss. */
export function regionWindow(region: PlanarRegion, grid: Grid): Window | null {
  const b = bboxWindow(region, grid);
  const x0 = Math.max(0, b.x), y0 = Math.max(0, b.y);
  const x1 = Math.min(grid.width, b.x + b.width), y1 = Math.min(grid.height, b.y + b.height);
  if (x1 <= x0 || y1 <= y0) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The window of the grid's pixel lattice, extended past the grid's edges, that covers the region's bbox. */
function bboxWindow(region: PlanarRegion, grid: Grid): Window {
  const [w, s, e, n] = region.bbox;
  let c0 = Infinity, r0 = Infinity, c1 = -Infinity, r1 = -Infinity;
  for (const [x, y] of [[w, s], [e, s], [e, n], [w, n]]) {
    const [c, r] = toPixel(grid.transform, x, y);
    c0 = Math.min(c0, c); c1 = Math.max(c1, c); r0 = Math.min(r0, r); r1 = Math.max(r1, r);
  }
  const x0 = Math.floor(c0), y0 = Math.floor(r0);
  return { x: x0, y: y0, width: Math.ceil(c1) - x0, height: Math.ceil(r1) - y0 };
}

/**
 * How many pixel centres of the grid's lattice, extended past the grid's edges, lie in the region:
 * the region's size in the grid's pixels, whether the raster covers it or not (the same half-open
 * rule as regionSpans, so a region the raster covers whole counts exactly the pixels its spans hold).
 */
export function regionPixelCount(region: PlanarRegion, grid: Grid): number {
  let count = 0;
  regionSpans(region, grid, bboxWindow(region, grid), (_row, c0, c1) => { count += c1 - c0 + 1; });
  return count;
}

/** True when at least one pixel centre of the grid lies in the region (checked on the bbox window). */
export function regionTouchesGrid(region: PlanarRegion, grid: Grid): boolean {
  const win = regionWindow(region, grid);
  if (!win) return false;
  let touches = false;
  regionSpans(region, grid, win, () => { touches = true; return false; });
  return touches;
}
