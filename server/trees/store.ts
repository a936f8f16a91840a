/**
 * Trees and crowns of one CHM, stored on disk with a spatial index so a bounding-box query over a
 * large area is fast: a record table (Float64, 8 values per tree), crown geometries as GeoJSON
 * text (one per tree, located by byte offsets) and a Flatbush index over each tree's WGS84 crown
 * box. The writer takes trees tile by tile; `finish` builds the index and moves the finished
 * store into place atomically, so readers never see a half-written store.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Flatbush from 'flatbush';
import { InvalidInputError } from '../errors.ts';
import type { Crs } from '../raster/types.ts';
import { treeFeatureBuilder, type TreeFeature } from '../features/geojson.ts';
import type { CrownPolygon, Tree } from './types.ts';

/** Per tree: id, lon, lat, height, crown area, crown diameter, native x, native y. */
const FIELDS = 8;

export interface StoreMeta {
  count: number;
  /** [minLon, minLat, maxLon, maxLat] of all crowns, or null when there are no trees. */
  bbox: [number, number, number, number] | null;
  /** Free-form description of what was computed (raster version, options). */
  source: Record<string, unknown>;
}

export class TreeStoreWriter {
  private records = new Float64Array(1024 * FIELDS);
  private boxes = new Float64Array(1024 * 4);
  private offsets: number[] = [0];
  private bytes = 0;
  private n = 0;
  private readonly geo: WriteStream;
  private readonly build: ReturnType<typeof treeFeatureBuilder>;

  private constructor(readonly dir: string, private readonly tmp: string, crs: Crs) {
    this.geo = createWriteStream(join(tmp, 'crowns.geojsonl'));
    // an I/O error (disk full, folder removed) surfaces at the next add/finish, never as a crash
    this.geo.on('error', (err) => { this.failure ??= err; });
    this.build = treeFeatureBuilder(crs);
  }

  private failure: Error | null = null;

  static async create(dir: string, crs: Crs): Promise<TreeStoreWriter> {
    const tmp = `${dir}.tmp-${process.pid}-${Date.now().toString(36)}`;
    await mkdir(tmp, { recursive: true });
    return new TreeStoreWriter(dir, tmp, crs);
  }

  get count(): number { return this.n; }

  async add(trees: Tree[], crowns: Array<CrownPolygon | null>): Promise<void> {
    if (this.failure) throw this.failure;
    for (let k = 0; k < trees.length; k++) {
      const t = trees[k];
      const point = this.build(t, 'point')!;
      const crown = crowns[k] ? this.build(t, 'crown', crowns[k]) : null;
      const feature: TreeFeature = crown ?? point;
      const [lon, lat] = (point.geometry as { coordinates: [number, number] }).coordinates;
      let minX = lon, minY = lat, maxX = lon, maxY = lat;
      if (crown) for (const [x, y] of (crown.geometry as { coordinates: Array<Array<[number, number]>> }).coordinates[0]) {
        if (x < minX) minX = x; if (x > maxX) maxX = x; if (y < minY) minY = y; if (y > maxY) maxY = y;
      }
      if (this.n * FIELDS >= this.records.length) {
        const r = new Float64Array(this.records.length * 2); r.set(this.records); this.records = r;
        const b = new Float64Array(this.boxes.length * 2); b.set(this.boxes); this.boxes = b;
      }
      this.records.set([t.id, lon, lat, t.height, t.crownArea, t.crownDiameter, t.x, t.y], this.n * FIELDS);
      this.boxes.set([minX, minY, maxX, maxY], this.n * 4);
      const text = JSON.stringify(feature.geometry) + '\n';
      this.bytes += Buffer.byteLength(text);
      this.offsets.push(this.bytes);
      this.n++;
      if (!this.geo.write(text)) await firstEvent(this.geo, 'drain', 'close');
    }
  }

  async finish(source: Record<string, unknown>): Promise<StoreMeta> {
    if (this.failure) throw this.failure;
    this.geo.end();
    await firstEvent(this.geo, 'finish', 'close');
    if (this.failure) throw this.failure;
    const n = this.n;
    let bbox: StoreMeta['bbox'] = null;
    // Flatbush needs at least one item; an empty store has no index file
    if (n > 0) {
      const index = new Flatbush(n);
      bbox = [Infinity, Infinity, -Infinity, -Infinity];
      for (let i = 0; i < n; i++) {
        const b = this.boxes.subarray(i * 4, i * 4 + 4);
        index.add(b[0], b[1], b[2], b[3]);
        bbox = [Math.min(bbox[0], b[0]), Math.min(bbox[1], b[1]), Math.max(bbox[2], b[2]), Math.max(bbox[3], b[3])];
      }
      index.finish();
      await writeFile(join(this.tmp, 'index.flatbush'), new Uint8Array(index.data));
    }
    await writeFile(join(this.tmp, 'trees.f64'), new Uint8Array(this.records.buffer, 0, n * FIELDS * 8));
    await writeFile(join(this.tmp, 'crowns.offsets'), new Uint8Array(Float64Array.from(this.offsets).buffer));
    const meta: StoreMeta = { count: n, bbox, source };
    await writeFile(join(this.tmp, 'meta.json'), JSON.stringify(meta));
    await rm(this.dir, { recursive: true, force: true });
    await rename(this.tmp, this.dir);
    return meta;
  }

  async abort(): Promise<void> {
    this.geo.destroy();
    await rm(this.tmp, { recursive: true, force: true });
  }
}

export interface TreeQuery {
  /** [minLon, minLat, maxLon, maxLat] */
  bbox: [number, number, number, number];
  /** At most this many trees; when more match, the tallest are kept. */
  limit: number;
  /** Crown polygons (default; a point where a tree has no crown) or top points. */
  geometry?: 'crown' | 'point';
}

export interface QueryResult {
  /** Trees in the box (before the limit). */
  matched: number;
  features: TreeFeature[];
}

/** A finished store opened for queries: the records and index in memory, crowns read on demand. */
export class TreeStore {
  private constructor(
    readonly dir: string, readonly meta: StoreMeta, private readonly records: Float64Array,
    private readonly offsets: Float64Array, private readonly index: Flatbush | null,
  ) {}

  static async open(dir: string): Promise<TreeStore> {
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as StoreMeta;
    const rec = await readFile(join(dir, 'trees.f64'));
    const off = await readFile(join(dir, 'crowns.offsets'));
    const records = new Float64Array(rec.buffer.slice(rec.byteOffset, rec.byteOffset + rec.byteLength));
    const offsets = new Float64Array(off.buffer.slice(off.byteOffset, off.byteOffset + off.byteLength));
    let index: Flatbush | null = null;
    if (meta.count > 0) {
      const idx = await readFile(join(dir, 'index.flatbush'));
      index = Flatbush.from(idx.buffer.slice(idx.byteOffset, idx.byteOffset + idx.byteLength));
    }
    if (records.length !== meta.count * FIELDS || offsets.length !== meta.count + 1) throw new Error(`tree store ${dir} is inconsistent`);
    return new TreeStore(dir, meta, records, offsets, index);
  }

  get count(): number { return this.meta.count; }

  tree(i: number): Tree & { lon: number; lat: number } {
    const r = this.records.subarray(i * FIELDS, i * FIELDS + FIELDS);
    return { id: r[0], lon: r[1], lat: r[2], height: r[3], crownArea: r[4], crownDiameter: r[5], x: r[6], y: r[7] };
  }

  /** Trees whose crown box meets the bbox, as GeoJSON features (crown polygons; a point when no crown). */
  async query(q: TreeQuery): Promise<QueryResult> {
    const [minX, minY, maxX, maxY] = q.bbox;
    if (!(minX <= maxX && minY <= maxY)) throw new InvalidInputError('bbox must be minLon,minLat,maxLon,maxLat with min <= max');
    if (!this.index) return { matched: 0, features: [] };
    let hits = this.index.search(minX, minY, maxX, maxY);
    const matched = hits.length;
    if (hits.length > q.limit) {
      hits = hits.sort((a, b) => this.records[b * FIELDS + 3] - this.records[a * FIELDS + 3] || this.records[a * FIELDS] - this.records[b * FIELDS]).slice(0, q.limit);
    }
    hits.sort((a, b) => a - b); // file order: reads move forward through the crowns file
    if (q.geometry === 'point') {
      return {
        matched,
        features: hits.map((i) => {
          const t = this.tree(i);
          return { type: 'Feature', id: t.id, geometry: { type: 'Point', coordinates: [t.lon, t.lat] }, properties: propertiesOf(t) };
        }),
      };
    }
    const fh = await open(join(this.dir, 'crowns.geojsonl'), 'r');
    try {
      const features: TreeFeature[] = [];
      // read runs of nearby crowns in one go (hits are sorted; gaps under 64 KiB are read through)
      for (let a = 0; a < hits.length;) {
        let b = a;
        while (b + 1 < hits.length && this.offsets[hits[b + 1]] - this.offsets[hits[b] + 1] < 65536 &&
          this.offsets[hits[b + 1] + 1] - this.offsets[hits[a]] < (8 << 20)) b++;
        const base = this.offsets[hits[a]];
        const buf = Buffer.alloc(this.offsets[hits[b] + 1] - base);
        await fh.read(buf, 0, buf.length, base);
        for (let k = a; k <= b; k++) {
          const i = hits[k];
          const t = this.tree(i);
          features.push({
            type: 'Feature', id: t.id, geometry: JSON.parse(buf.toString('utf8', this.offsets[i] - base, this.offsets[i + 1] - base)),
            properties: propertiesOf(t),
          });
        }
        a = b + 1;
      }
      return { matched, features };
    } finally {
      await fh.close();
    }
  }
}

function propertiesOf(t: Tree): TreeFeature['properties'] {
  return { id: t.id, height_m: Math.round(t.height * 100) / 100, crown_area_m2: Math.round(t.crownArea * 100) / 100, crown_diameter_m: Math.round(t.crownDiameter * 100) / 100 };
}

/** Resolves on whichever event comes first and detaches both listeners (a race of two once()
 *  promises leaves the loser attached, which leaks a listener per back-pressure wait). */
function firstEvent(stream: WriteStream, a: string, b: string): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off(a, done);
      stream.off(b, done);
      resolve();
    };
    stream.once(a, done);
    stream.once(b, done);
  });
}
