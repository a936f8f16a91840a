/**
 * Streaming RFC 7946 export of a job's trees and crowns: one feature at a time to a temp file
 * (respecting the stream's backpressure), renamed into place when complete, so a large export is
 * never one string in memory and a reader never sees half a file.
 *
 * RFC 7946 rules applied here: WGS84 lon/lat, 7 decimals (about 1 cm), exterior rings
 * counter-clockwise and holes clockwise (checked after projection, which may mirror), rings
 * closed, consecutive duplicate positions (from rounding) removed.
 */
import { createWriteStream, renameSync, rmSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Feature, Point, Polygon, Position } from 'geojson';
import type { CrownPolygon, Tree } from '../trees/types.ts';
import type { Projector } from '../../tiles/projection.ts';

const round7 = (v: number) => Math.round(v * 1e7) / 1e7;
const round3 = (v: number) => Math.round(v * 1e3) / 1e3;

export interface TreeProperties {
  id: number;
  height_m: number;
  crown_area_m2: number;
  crown_diameter_m: number;
}

export function treeProperties(tree: Tree): TreeProperties {
  return { id: tree.id, height_m: round3(tree.height), crown_area_m2: round3(tree.crownArea), crown_diameter_m: round3(tree.crownDiameter) };
}

function ringArea(ring: Position[]): number {
  let s = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) s += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
  return s / 2;
}

/** A crown's rings in WGS84, rounded, deduplicated, closed and wound per RFC 7946; null if degenerate. */
export function crownToWgs84(crown: CrownPolygon, toWgs: Projector): Position[][] | null {
  const rings: Position[][] = [];
  for (let r = 0; r < crown.length; r++) {
    const out: Position[] = [];
    for (const [x, y] of crown[r]) {
      const [lon, lat] = toWgs(x, y);
      const p = [round7(lon), round7(lat)];
      const last = out[out.length - 1];
      if (!last || last[0] !== p[0] || last[1] !== p[1]) out.push(p);
    }
    if (out.length > 1 && out[0][0] === out[out.length - 1][0] && out[0][1] === out[out.length - 1][1]) out.pop();
    if (out.length < 3) {
      if (r === 0) return null;
      continue;
    }
    out.push([...out[0]]);
    const a = ringArea(out);
    if (a === 0) {
      if (r === 0) return null;
      continue;
    }
    if ((r === 0) !== (a > 0)) out.reverse();
    rings.push(out);
  }
  return rings;
}

export function treeFeatures(tree: Tree, crown: CrownPolygon | null, toWgs: Projector): { point: Feature<Point, TreeProperties>; crown: Feature<Polygon, TreeProperties> | null } {
  const properties = treeProperties(tree);
  const [lon, lat] = toWgs(tree.x, tree.y);
  const point: Feature<Point, TreeProperties> = { type: 'Feature', id: tree.id, geometry: { type: 'Point', coordinates: [round7(lon), round7(lat)] }, properties };
  const rings = crown ? crownToWgs84(crown, toWgs) : null;
  return { point, crown: rings ? { type: 'Feature', id: tree.id, geometry: { type: 'Polygon', coordinates: rings }, properties } : null };
}

/** A FeatureCollection written feature by feature. */
export class GeoJsonFileWriter {
  private readonly tmp: string;
  private readonly stream: WriteStream;
  private count = 0;
  private done = false;

  constructor(readonly path: string) {
    this.tmp = `${path}.${process.pid}.tmp`;
    this.stream = createWriteStream(this.tmp);
    this.stream.write('{"type":"FeatureCollection","features":[\n');
  }

  async write(feature: Feature): Promise<void> {
    const ok = this.stream.write((this.count++ ? ',\n' : '') + JSON.stringify(feature));
    // once() rejects on 'error' and removes its listeners either way
    if (!ok) await once(this.stream, 'drain');
  }

  /** Closes the collection and moves the file into place; returns its path. */
  async finish(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.end('\n]}\n', () => resolve());
    });
    renameSync(this.tmp, this.path);
    this.done = true;
    return this.path;
  }

  /** Drops an unfinished file (no-op after finish). */
  abandon(): void {
    if (this.done) return;
    this.done = true;
    this.stream.destroy();
    rmSync(this.tmp, { force: true });
  }

  get features(): number {
    return this.count;
  }
}
