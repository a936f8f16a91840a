/**
 * The true trees as RFC 7946 GeoJSON, streamed strip by strip so a scene of millions of trees
 * never holds them all: trees.geojson (apex points) and crowns.geojson (crown discs as polygons),
 * joined by `id`. Coordinates are WGS84 longitude/latitude (7 decimals, about 1 cm); native
 * coordinates travel in the properties.
 */
import { open, type FileHandle } from 'node:fs/promises';
import proj4 from 'proj4';
import { radiusToward, type Tree } from './trees.ts';

/** Vertices of a crown polygon (plus the closing one). */
const CROWN_VERTICES = 16;
const FLUSH_BYTES = 1 << 20;

export interface TreeProperties {
  id: number;
  /** Apex in the scene's native CRS (metres). */
  x: number;
  y: number;
  height_m: number;
  /** Mean crown radius; the crown outline (crowns.geojson) is lobed around it. */
  crown_radius_m: number;
  crown_base_m: number;
  type: 'conifer' | 'broadleaf';
}

class FeatureCollectionWriter {
  private buffered: string[] = [];
  private size = 0;
  private first = true;
  private constructor(private readonly file: FileHandle) {}

  static async create(path: string): Promise<FeatureCollectionWriter> {
    const w = new FeatureCollectionWriter(await open(path, 'w'));
    w.push('{"type":"FeatureCollection","features":[\n');
    return w;
  }

  private push(s: string) {
    this.buffered.push(s);
    this.size += s.length;
  }

  async add(feature: string): Promise<void> {
    this.push(this.first ? feature : ',\n' + feature);
    this.first = false;
    if (this.size > FLUSH_BYTES) await this.flush();
  }

  private async flush() {
    if (this.buffered.length) await this.file.write(this.buffered.join(''));
    this.buffered = [];
    this.size = 0;
  }

  async close(): Promise<void> {
    this.push('\n]}\n');
    await this.flush();
    await this.file.close();
  }
}

export class TreeVectorWriter {
  private nextId = 1;
  counts = { trees: 0, conifer: 0, broadleaf: 0 };
  private constructor(
    private readonly toWgs84: (xy: [number, number]) => [number, number],
    /** Scene metres (X east, Y south) to native CRS. */
    private readonly toNative: (x: number, y: number) => [number, number],
    private readonly points: FeatureCollectionWriter,
    private readonly crowns: FeatureCollectionWriter | null,
  ) {}

  static async create(opts: { treesPath: string; crownsPath: string | null; proj4: string; toNative: (x: number, y: number) => [number, number] }): Promise<TreeVectorWriter> {
    const conv = proj4(opts.proj4, 'WGS84');
    return new TreeVectorWriter(
      (xy) => conv.forward(xy) as [number, number],
      opts.toNative,
      await FeatureCollectionWriter.create(opts.treesPath),
      opts.crownsPath ? await FeatureCollectionWriter.create(opts.crownsPath) : null,
    );
  }

  async add(trees: Tree[]): Promise<void> {
    for (const t of trees) {
      const [x, y] = this.toNative(t.x, t.y);
      const props: TreeProperties = {
        id: this.nextId++,
        x: round(x, 2), y: round(y, 2),
        height_m: round(t.height, 2),
        crown_radius_m: round(t.radius, 2),
        crown_base_m: round(t.base, 2),
        type: t.conifer ? 'conifer' : 'broadleaf',
      };
      this.counts.trees++;
      this.counts[props.type]++;
      const [lon, lat] = this.toWgs84([x, y]);
      await this.points.add(`{"type":"Feature","geometry":{"type":"Point","coordinates":[${lon.toFixed(7)},${lat.toFixed(7)}]},"properties":${JSON.stringify(props)}}`);
      if (this.crowns) {
        const ring: string[] = [];
        // Counter-clockwise exterior ring (RFC 7946 right-hand rule): east, north, west, south.
        for (let k = 0; k <= CROWN_VERTICES; k++) {
          const a = (2 * Math.PI * (k % CROWN_VERTICES)) / CROWN_VERTICES;
          // Native y grows north, scene Y south: the outline's direction flips in y.
          const r = radiusToward(t, Math.cos(a), -Math.sin(a));
          const [plon, plat] = this.toWgs84([x + r * Math.cos(a), y + r * Math.sin(a)]);
          ring.push(`[${plon.toFixed(7)},${plat.toFixed(7)}]`);
        }
        await this.crowns.add(`{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[${ring.join(',')}]]},"properties":{"id":${props.id},"height_m":${props.height_m},"type":"${props.type}"}}`);
      }
    }
  }

  async close(): Promise<void> {
    await this.points.close();
    await this.crowns?.close();
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
