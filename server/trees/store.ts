/**
 * Trees and crowns of one CHM, stored on disk with a spatial index so a bounding-box query over a
 * large area is fast: a record table (Float64, 8 values per tree), crown geometries as GeoJSON
 * text (one per tree, located by byte offsets) and a Flatbush index over each tree's WGS84 crown
 * box. The writer takes trees tile by tile; `finish` builds the index and moves the finished
 * store into place atomically, so readers never see a half-written store.
 *
 * The crowns are also kept exactly as detection produced them (native CRS rings, JSON text, one
 * line per tree): the WGS84 geometries are rounded to 7 decimals, so they cannot be turned back
 * into the detector's output, and a forest-map job that takes a tile's trees from the store
 * (`treesInWindow`) must get exactly what detecting them would give (server/jobs/units.ts).
 */
import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import Flatbush from 'flatbush';
import { InvalidInputError } from '../errors.ts';
import type { Crs, Window } from '../raster/types.ts';
import { TreeFeatures, type TreeFeature } from '../features/geojson.ts';
import type { CrownPolygon, Tree } from './types.ts';

/** Per tree: id, lon, lat, height, crown area, crown diameter, native x, native y. */
const FIELDS = 8;
/** Crowns as detection gave them (native CRS rings or null), one JSON line per tree, and their byte offsets. */
const NATIVE_CROWNS = 'crowns.native.jsonl';
const NATIVE_OFFSETS = 'crowns.native.offsets';
/** A finished store's summary, written last: its presence marks the store complete. */
const META = 'meta.json';

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
  private nativeOffsets: number[] = [0];
  private nativeBytes = 0;
  private n = 0;
  private readonly geo: WriteStream;
  private readonly native: WriteStream;
  private readonly features: TreeFeatures;

  private constructor(readonly dir: string, private readonly tmp: string, crs: Crs) {
    this.geo = createWriteStream(join(tmp, 'crowns.geojsonl'));
    this.native = createWriteStream(join(tmp, NATIVE_CROWNS));
    // an I/O error (disk full, folder removed) surfaces at the next add/finish, never as a crash
    this.geo.on('error', (err) => { this.failure ??= err; });
    this.native.on('error', (err) => { this.failure ??= err; });
    this.features = new TreeFeatures(crs);
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
      const point = this.features.point(t);
      const crown = this.features.crown(t, crowns[k]);
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
      // JSON text of a double reads back as the same double: the native crown round-trips exactly
      const native = JSON.stringify(crowns[k] ?? null) + '\n';
      this.nativeBytes += Buffer.byteLength(native);
      this.nativeOffsets.push(this.nativeBytes);
      this.n++;
      const geoOk = this.geo.write(text), nativeOk = this.native.write(native);
      // both waits are armed at once: a stream that drains while the other is awaited is not missed
      if (!geoOk || !nativeOk) {
        await Promise.all([geoOk || firstEvent(this.geo, 'drain', 'close'), nativeOk || firstEvent(this.native, 'drain', 'close')]);
      }
    }
  }

  async finish(source: Record<string, unknown>): Promise<StoreMeta> {
    if (this.failure) throw this.failure;
    this.geo.end();
    this.native.end();
    await Promise.all([firstEvent(this.geo, 'finish', 'close'), firstEvent(this.native, 'finish', 'close')]);
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
    await writeFile(join(this.tmp, NATIVE_OFFSETS), new Uint8Array(Float64Array.from(this.nativeOffsets).buffer));
    const meta: StoreMeta = { count: n, bbox, source };
    await writeFile(join(this.tmp, META), JSON.stringify(meta));
    await rm(this.dir, { recursive: true, force: true });
    await rename(this.tmp, this.dir);
    return meta;
  }

  async abort(): Promise<void> {
    this.geo.destroy();
    this.native.destroy();
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
  /** Record indices in ascending tree id (ids are row-major top pixels): built on the first window query. */
  private byId: Uint32Array | null = null;

  private constructor(
    readonly dir: string, readonly meta: StoreMeta, private readonly records: Float64Array,
    private readonly offsets: Float64Array, private readonly index: Flatbush | null,
    private readonly nativeOffsets: Float64Array | null,
  ) {}

  static async open(dir: string): Promise<TreeStore> {
    const meta = JSON.parse(await readFile(join(dir, META), 'utf8')) as StoreMeta;
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
    // stores written before native crowns were kept have none: they answer map queries, not windows
    let nativeOffsets: Float64Array | null = null;
    if (existsSync(join(dir, NATIVE_OFFSETS))) {
      const nat = await readFile(join(dir, NATIVE_OFFSETS));
      nativeOffsets = new Float64Array(nat.buffer.slice(nat.byteOffset, nat.byteOffset + nat.byteLength));
      if (nativeOffsets.length !== meta.count + 1) throw new Error(`tree store ${dir} is inconsistent`);
    }
    return new TreeStore(dir, meta, records, offsets, index, nativeOffsets);
  }

  get count(): number { return this.meta.count; }

  /** Whether the store holds the crowns exactly as detected, so `treesInWindow` can answer. */
  get hasNativeCrowns(): boolean { return this.nativeOffsets !== null; }

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
      await readLines(fh, this.offsets, hits, (i, text) => {
        const t = this.tree(i);
        features.push({ type: 'Feature', id: t.id, geometry: JSON.parse(text), properties: propertiesOf(t) });
      });
      return { matched, features };
    } finally {
      await fh.close();
    }
  }

  /**
   * The trees whose tops lie in `window` (pixels of the CHM grid the store was computed on, whose
   * width is `rasterWidth`), in id order, with their crowns exactly as detection gave them (native
   * CRS rings; null where a crown did not grow): what delineateWindow reports for that core.
   * Throws when the store has no native crowns (hasNativeCrowns).
   */
  async treesInWindow(window: Window, rasterWidth: number): Promise<{ trees: Tree[]; crowns: Array<CrownPolygon | null> }> {
    if (!this.nativeOffsets) throw new Error(`tree store ${this.dir} keeps no native crowns`);
    const order = this.idOrder();
    const ids = (k: number) => this.records[order[k] * FIELDS];
    const lowerBound = (id: number) => {
      let lo = 0, hi = order.length;
      while (lo < hi) { const mid = (lo + hi) >>> 1; if (ids(mid) < id) lo = mid + 1; else hi = mid; }
      return lo;
    };
    const hits: number[] = [];
    // a row of the window is one run of ids
    for (let y = window.y; y < window.y + window.height; y++) {
      const end = lowerBound(y * rasterWidth + window.x + window.width);
      for (let k = lowerBound(y * rasterWidth + window.x); k < end; k++) hits.push(order[k]);
    }
    const trees: Tree[] = hits.map((i) => {
      const r = this.records.subarray(i * FIELDS, i * FIELDS + FIELDS);
      // the detector's field order, so the tree serialises as detection's does
      return { id: r[0], x: r[6], y: r[7], height: r[3], crownArea: r[4], crownDiameter: r[5] };
    });
    const crowns = new Array<CrownPolygon | null>(hits.length).fill(null);
    if (hits.length) {
      const at = new Map<number, number>(hits.map((i, k) => [i, k]));
      const fileOrder = Uint32Array.from(hits).sort();
      const fh = await open(join(this.dir, NATIVE_CROWNS), 'r');
      try {
        await readLines(fh, this.nativeOffsets, fileOrder, (i, text) => { crowns[at.get(i)!] = JSON.parse(text) as CrownPolygon | null; });
      } finally {
        await fh.close();
      }
    }
    return { trees, crowns };
  }

  private idOrder(): Uint32Array {
    if (!this.byId) {
      const n = this.count, rec = this.records;
      const order = new Uint32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
      this.byId = order.sort((a, b) => rec[a * FIELDS] - rec[b * FIELDS]);
    }
    return this.byId;
  }
}

/**
 * Reads lines `hits` (record indices, ascending) of a one-line-per-record file whose line i spans
 * bytes offsets[i]..offsets[i+1]: runs of nearby lines (gaps under 64 KiB, runs under 8 MiB) in
 * one read each.
 */
async function readLines(fh: FileHandle, offsets: Float64Array, hits: ArrayLike<number>, each: (i: number, text: string) => void): Promise<void> {
  for (let a = 0; a < hits.length;) {
    let b = a;
    while (b + 1 < hits.length && offsets[hits[b + 1]] - offsets[hits[b] + 1] < 65536 &&
      offsets[hits[b + 1] + 1] - offsets[hits[a]] < (8 << 20)) b++;
    const base = offsets[hits[a]];
    const buf = Buffer.alloc(offsets[hits[b] + 1] - base);
    await fh.read(buf, 0, buf.length, base);
    for (let k = a; k <= b; k++) {
      const i = hits[k];
      each(i, buf.toString('utf8', offsets[i] - base, offsets[i + 1] - base));
    }
    a = b + 1;
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

/**
 * The tree count a finished store in `dir` records, without opening the store; null when it has no
 * readable summary (not finished, or damaged: its trees are then computed again).
 */
export function storedTreeCount(dir: string): number | null {
  try {
    const count = (JSON.parse(readFileSync(join(dir, META), 'utf8')) as Partial<StoreMeta>).count;
    return typeof count === 'number' && Number.isInteger(count) && count >= 0 ? count : null;
  } catch {
    return null;
  }
}
