/**
 * RFC 7946 GeoJSON for trees: WGS84 longitude/latitude, 7 decimals (about 1 cm), exterior rings
 * counter-clockwise and holes clockwise. Written feature by feature to a stream in ~64 KB chunks
 * (honouring backpressure), never as one giant string, so a country's trees export in flat memory.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { projector, WGS84 } from '../../tiles/projection.ts';
import type { Crs } from '../raster/types.ts';
import type { CrownPolygon, Tree } from '../trees/types.ts';

export type TreeGeometry = 'point' | 'crown';

const round7 = (v: number) => Math.round(v * 1e7) / 1e7;

/** Projects a native ring to WGS84, rounds to 7 decimals and drops repeated positions. */
function ringToWgs84(ring: Array<[number, number]>, project: (x: number, y: number) => [number, number]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [x, y] of ring) {
    const [lon, lat] = project(x, y);
    const p: [number, number] = [round7(lon), round7(lat)];
    const last = out[out.length - 1];
    if (!last || last[0] !== p[0] || last[1] !== p[1]) out.push(p);
  }
  if (out.length && (out[0][0] !== out[out.length - 1][0] || out[0][1] !== out[out.length - 1][1])) out.push([out[0][0], out[0][1]]);
  return out;
}

function signedArea(ring: Array<[number, number]>): number {
  let s = 0;
  for (let i = 0; i + 1 < ring.length; i++) s += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  return s / 2;
}

export interface TreeFeature {
  type: 'Feature';
  id: number;
  geometry: { type: 'Point'; coordinates: [number, number] } | { type: 'Polygon'; coordinates: Array<Array<[number, number]>> };
  properties: { id: number; height_m: number; crown_area_m2: number; crown_diameter_m: number };
}

/** Builds the WGS84 feature of one tree (a Point at its top, or its crown Polygon; null if it has no crown). */
export function treeFeatureBuilder(crs: Crs) {
  const project = projector(crs, WGS84);
  return (tree: Tree, geometry: TreeGeometry, crown?: CrownPolygon | null): TreeFeature | null => {
    const properties = {
      id: tree.id,
      height_m: Math.round(tree.height * 100) / 100,
      crown_area_m2: Math.round(tree.crownArea * 100) / 100,
      crown_diameter_m: Math.round(tree.crownDiameter * 100) / 100,
    };
    if (geometry === 'point') {
      const [lon, lat] = project(tree.x, tree.y);
      return { type: 'Feature', id: tree.id, geometry: { type: 'Point', coordinates: [round7(lon), round7(lat)] }, properties };
    }
    if (!crown || !crown.length) return null;
    const rings: Array<Array<[number, number]>> = [];
    for (let r = 0; r < crown.length; r++) {
      const ring = ringToWgs84(crown[r], project);
      if (ring.length < 4) { if (r === 0) return null; continue; } // collapsed below 1 cm: drop
      // RFC 7946: exterior counter-clockwise, holes clockwise
      if ((r === 0) !== (signedArea(ring) > 0)) ring.reverse();
      rings.push(ring);
    }
    return { type: 'Feature', id: tree.id, geometry: { type: 'Polygon', coordinates: rings }, properties };
  };
}

/** Bytes gathered before a write: one write per feature would cost a system call each. */
const FLUSH_CHARS = 64 * 1024;

/**
 * Writes a FeatureCollection one feature at a time, in chunks of about 64 KB (honouring
 * backpressure); `end()` closes the collection (not the stream).
 */
export class FeatureCollectionWriter {
  private count = 0;
  private started = false;
  private pending: string[] = [];
  private pendingChars = 0;
  constructor(private readonly out: Writable) {}

  private async put(text: string, flush = false): Promise<void> {
    this.pending.push(text);
    this.pendingChars += text.length;
    if (!flush && this.pendingChars < FLUSH_CHARS) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.pendingChars = 0;
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }

  async write(feature: object): Promise<void> {
    if (!this.started) await this.start();
    await this.put((this.count++ ? ',\n' : '\n') + JSON.stringify(feature));
  }

  private async start(): Promise<void> {
    this.started = true;
    await this.put('{"type":"FeatureCollection","features":[');
  }

  /** Closes the collection; returns the number of features written. */
  async end(): Promise<number> {
    if (!this.started) await this.start();
    await this.put('\n]}\n', true);
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
  const build = treeFeatureBuilder(opts.crs);
  const geometry = opts.geometry ?? 'point';
  const writer = new FeatureCollectionWriter(out);
  let i = 0;
  for await (const tree of trees as AsyncIterable<Tree>) {
    const crown = typeof opts.crowns === 'function' ? opts.crowns(tree, i) : opts.crowns?.[i];
    i++;
    const f = build(tree, geometry, crown);
    if (f) await writer.write(f);
  }
  return writer.end();
}
