/**
 * RFC 7946 GeoJSON for trees: WGS84 longitude/latitude, 7 decimals (about 1 cm), exterior rings
 * counter-clockwise and holes clockwise. Written feature by feature to a stream in ~64 KB chunks
 * (honouring backpressure), never as one giant string, so a country's trees export in flat memory.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { WGS84 } from '../../tiles/projection.ts';
import { RoundedProjector } from '../../tiles/rounded.projector.ts';
import { signedArea } from '../trees/polygons.ts';
import { ascii, JsonBytes, MAX_NUMBER_BYTES } from './json.bytes.ts';
import type { Crs } from '../raster/types.ts';
import type { CrownPolygon, Tree } from '../trees/types.ts';

export type TreeGeometry = 'point' | 'crown';

export interface TreeFeature {
  type: 'Feature';
  id: number;
  geometry: { type: 'Point'; coordinates: [number, number] } | { type: 'Polygon'; coordinates: Array<Array<[number, number]>> };
  properties: { id: number; height_m: number; crown_area_m2: number; crown_diameter_m: number };
}

/** A crown's rings as flat arrays: rings first..end-1, ring j's vertices vertexStart[j]..vertexStart[j+1]-1 (x, y pairs in coords). */
export interface FlatCrown {
  coords: ArrayLike<number>;
  vertexStart: ArrayLike<number>;
  first: number;
  end: number;
}

export function flatCrown(crown: CrownPolygon): FlatCrown {
  const vertexStart = [0];
  const coords: number[] = [];
  for (const ring of crown) {
    for (const [x, y] of ring) coords.push(x, y);
    vertexStart.push(coords.length / 2);
  }
  return { coords, vertexStart, first: 0, end: crown.length };
}

const DECIMALS = 7;
const PROPERTY_DECIMALS = 2;
const round2 = (v: number) => Math.round(v * 100) / 100;

const FEATURE_ID = ascii('{"type":"Feature","id":');
const POINT = ascii(',"geometry":{"type":"Point","coordinates":[');
const POLYGON = ascii(',"geometry":{"type":"Polygon","coordinates":[');
const PROPERTIES_ID = ascii(']},"properties":{"id":');
const HEIGHT = ascii(',"height_m":');
const AREA = ascii(',"crown_area_m2":');
const DIAMETER = ascii(',"crown_diameter_m":');
const CLOSE = ascii('}}');
const COMMA = 44, OPEN = 91, SHUT = 93;
/** Room for a feature's fixed parts: the pieces above and six numbers. */
const FIXED_BYTES = 256 + 6 * MAX_NUMBER_BYTES;

/**
 * A tree's feature in WGS84, as JSON bytes (what the exports write) or as an object (the tree
 * store's index). Both come from one projection into scratch arrays; the bytes are
 * JSON.stringify's text of the object, character for character, without building the object or
 * any string (a 1 km² job writes 120 000 crown vertices).
 */
export class TreeFeatures {
  private readonly project: RoundedProjector;
  private readonly at = new Float64Array(2);
  /** The last crown's rings in lon/lat, ring r ending (exclusive) at vertex ringEnd[r]. */
  private lonLat = new Float64Array(256);
  private ringEnd = new Int32Array(16);
  private rings = 0;

  constructor(crs: Crs) {
    this.project = new RoundedProjector(crs, WGS84, { decimals: DECIMALS });
  }

  writePoint(out: JsonBytes, tree: Tree): void {
    this.project.project(tree.x, tree.y, this.at, 0);
    out.need(FIXED_BYTES);
    out.raw(FEATURE_ID); out.number(tree.id);
    out.raw(POINT); out.fixed(this.at[0], DECIMALS); out.buf[out.pos++] = COMMA; out.fixed(this.at[1], DECIMALS);
    writeProperties(out, tree);
  }

  /** Writes the crown's feature; false (nothing written) when no ring survives rounding. */
  writeCrown(out: JsonBytes, tree: Tree, crown: FlatCrown): boolean {
    if (!this.projectCrown(crown)) return false;
    const n = this.ringEnd[this.rings - 1], ll = this.lonLat;
    out.need(FIXED_BYTES + this.rings * 4 + n * (2 * MAX_NUMBER_BYTES + 4));
    out.raw(FEATURE_ID); out.number(tree.id);
    out.raw(POLYGON);
    const b = out.buf;
    for (let r = 0, v = 0; r < this.rings; r++) {
      if (r) b[out.pos++] = COMMA;
      b[out.pos++] = OPEN;
      for (const first = v, end = this.ringEnd[r]; v < end; v++) {
        if (v > first) b[out.pos++] = COMMA;
        b[out.pos++] = OPEN;
        out.fixed(ll[2 * v], DECIMALS); b[out.pos++] = COMMA; out.fixed(ll[2 * v + 1], DECIMALS);
        b[out.pos++] = SHUT;
      }
      b[out.pos++] = SHUT;
    }
    writeProperties(out, tree);
    return true;
  }

  point(tree: Tree): TreeFeature {
    this.project.project(tree.x, tree.y, this.at, 0);
    return { type: 'Feature', id: tree.id, geometry: { type: 'Point', coordinates: [this.at[0], this.at[1]] }, properties: properties(tree) };
  }

  crown(tree: Tree, crown: CrownPolygon | null): TreeFeature | null {
    if (!crown || !crown.length || !this.projectCrown(flatCrown(crown))) return null;
    const coordinates: Array<Array<[number, number]>> = [];
    for (let r = 0, v = 0; r < this.rings; r++) {
      const ring: Array<[number, number]> = [];
      for (; v < this.ringEnd[r]; v++) ring.push([this.lonLat[2 * v], this.lonLat[2 * v + 1]]);
      coordinates.push(ring);
    }
    return { type: 'Feature', id: tree.id, geometry: { type: 'Polygon', coordinates }, properties: properties(tree) };
  }

  /**
   * Projects and rounds the crown's rings, dropping repeated positions and closing each; a ring
   * that collapses below 4 positions (under 1 cm) is dropped, and with its exterior the crown.
   * Returns the number of rings kept.
   */
  private projectCrown(c: FlatCrown): number {
    this.rings = 0;
    let n = 0;
    for (let r = c.first; r < c.end; r++) {
      const v0 = c.vertexStart[r], v1 = c.vertexStart[r + 1];
      if (2 * (n + v1 - v0 + 1) > this.lonLat.length) this.lonLat = grown(this.lonLat, 2 * (n + v1 - v0 + 1));
      const ll = this.lonLat, start = n;
      for (let v = v0; v < v1; v++) {
        this.project.project(c.coords[2 * v], c.coords[2 * v + 1], ll, 2 * n);
        if (n === start || ll[2 * n] !== ll[2 * n - 2] || ll[2 * n + 1] !== ll[2 * n - 1]) n++;
      }
      if (n > start && (ll[2 * start] !== ll[2 * n - 2] || ll[2 * start + 1] !== ll[2 * n - 1])) {
        ll[2 * n] = ll[2 * start]; ll[2 * n + 1] = ll[2 * start + 1]; n++;
      }
      if (n - start < 4) {
        if (r === c.first) return (this.rings = 0);
        n = start;
        continue;
      }
      // RFC 7946: exterior counter-clockwise, holes clockwise
      if ((r === c.first) !== (signedArea(ll, 2 * start, 2 * n) > 0)) reversePairs(ll, start, n);
      if (this.rings === this.ringEnd.length) this.ringEnd = grown(this.ringEnd);
      this.ringEnd[this.rings++] = n;
    }
    return this.rings;
  }
}

function properties(t: Tree): TreeFeature['properties'] {
  return { id: t.id, height_m: round2(t.height), crown_area_m2: round2(t.crownArea), crown_diameter_m: round2(t.crownDiameter) };
}

/** `]},"properties":{...}}`: closes the coordinates and the geometry, then the properties. */
function writeProperties(out: JsonBytes, t: Tree): void {
  out.raw(PROPERTIES_ID); out.number(t.id);
  out.raw(HEIGHT); out.fixed(t.height, PROPERTY_DECIMALS);
  out.raw(AREA); out.fixed(t.crownArea, PROPERTY_DECIMALS);
  out.raw(DIAMETER); out.fixed(t.crownDiameter, PROPERTY_DECIMALS);
  out.raw(CLOSE);
}

/** Reverses the order of the (x, y) pairs from..to-1 in place. */
function reversePairs(a: Float64Array, from: number, to: number): void {
  for (let i = from, j = to - 1; i < j; i++, j--) {
    const x = a[2 * i], y = a[2 * i + 1];
    a[2 * i] = a[2 * j]; a[2 * i + 1] = a[2 * j + 1];
    a[2 * j] = x; a[2 * j + 1] = y;
  }
}

/** A copy of `a` at least twice as long (and at least `atLeast`), for scratch arrays that outgrow themselves. */
function grown<T extends Float64Array<ArrayBuffer> | Int32Array<ArrayBuffer>>(a: T, atLeast = 0): T {
  const b = new (a.constructor as new (length: number) => T)(Math.max(atLeast, 2 * a.length));
  b.set(a);
  return b;
}

/** Bytes gathered before a write: one write per feature would cost a system call each. */
const FLUSH_BYTES = 64 * 1024;
const START = ascii('{"type":"FeatureCollection","features":[');
const SEPARATOR = ascii(',\n'), FIRST = ascii('\n'), END = ascii('\n]}\n');

/**
 * Writes a FeatureCollection one feature at a time, in chunks of about 64 KB (honouring
 * backpressure); `end()` closes the collection (not the stream).
 */
export class FeatureCollectionWriter {
  private count = 0;
  private readonly bytes = new JsonBytes(FLUSH_BYTES + 8192);
  constructor(private readonly out: Writable) {
    this.bytes.raw(START);
  }

  /** Adds a feature object (as JSON.stringify writes it). */
  write(feature: object): Promise<void> {
    const text = Buffer.from(JSON.stringify(feature));
    return this.add((out) => { out.need(text.length); out.raw(text); return true; });
  }

  /** Adds the feature `write` puts into the bytes, unless it returns false (nothing written). */
  async add(write: (out: JsonBytes) => boolean): Promise<void> {
    const b = this.bytes, mark = b.pos;
    b.need(2);
    b.raw(this.count ? SEPARATOR : FIRST);
    if (!write(b)) { b.pos = mark; return; }
    this.count++;
    if (b.pos >= FLUSH_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.out.write(this.bytes.take())) await once(this.out, 'drain');
  }

  /** Closes the collection; returns the number of features written. */
  async end(): Promise<number> {
    this.bytes.need(END.length);
    this.bytes.raw(END);
    await this.flush();
    return this.count;
  }
}

/**
 * Streams trees as a GeoJSON FeatureCollection in WGS84: points at the tops, or crown polygons
 * (`crowns` parallel to `trees`; trees without a crown are skipped). Returns the feature count.
 */
export async function treesToGeoJSON(
  out: Writable, trees: Iterable<Tree> | AsyncIterable<Tree>, opts: { crs: Crs; geometry?: TreeGeometry; crowns?: Array<CrownPolygon | null> | ((tree: Tree, index: number) => CrownPolygon | null) },
): Promise<number> {
  const features = new TreeFeatures(opts.crs);
  const geometry = opts.geometry ?? 'point';
  const writer = new FeatureCollectionWriter(out);
  let i = 0;
  for await (const tree of trees as AsyncIterable<Tree>) {
    const crown = typeof opts.crowns === 'function' ? opts.crowns(tree, i) : opts.crowns?.[i];
    i++;
    if (geometry === 'point') await writer.add((b) => { features.writePoint(b, tree); return true; });
    else if (crown?.length) await writer.add((b) => features.writeCrown(b, tree, flatCrown(crown)));
  }
  return writer.end();
}
