/**
 * Reads a LAS (1.0-1.4, point formats 0-10, extra bytes) or LAZ point cloud into columns.
 * LAZ is decompressed by the laz-perf package (LASzip compiled to WASM, bundled; no downloads).
 * Coordinates come out scaled and offset, in the file's CRS units; the CRS comes from the
 * GeoKeyDirectory or OGC WKT VLR (crs.ts).
 */
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { createRequire } from 'node:module';
import { LimitExceededError, UnreadableRasterError } from '../errors.ts';
import type { Crs } from '../raster/types.ts';
import { crsFromVlrs, verticalMetresPerUnit } from './crs.ts';
import { evlrLocation, extraBytesFields, parseEvlrs, parseHeader, type LasHeader } from './las.header.ts';

export interface PointCloud {
  header: LasHeader;
  /** CRS named by the file, or null when it names none. */
  crs: Crs | null;
  /** Metres per unit of Z (from the vertical or linear units; 1 when unknown). */
  zMetresPerUnit: number;
  count: number;
  x: Float64Array;
  y: Float64Array;
  z: Float64Array;
  classification: Uint8Array;
  returnNumber: Uint8Array;
  numberOfReturns: Uint8Array;
  /** Extra-bytes attributes by name (scaled). */
  extra: Record<string, Float64Array>;
}

/** Bound on what one read may allocate (about 40 bytes a point). */
export const MAX_POINTS = 60_000_000;

export async function readPointCloud(path: string, opts: { maxPoints?: number } = {}): Promise<PointCloud> {
  const name = basename(path);
  let size: number;
  try { size = (await stat(path)).size; } catch { throw new UnreadableRasterError(`${name}: no such file`, { reason: 'missing' }); }
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(Math.min(size, 375));
    await fh.read(head, 0, head.length, 0);
    const h0 = parseHeader(new Uint8Array(head), name, size);
    const pre = Buffer.alloc(h0.pointDataOffset);
    await fh.read(pre, 0, pre.length, 0);
    const header = parseHeader(new Uint8Array(pre), name, size);
    const evl = evlrLocation(new Uint8Array(pre), header);
    if (evl && evl[0] < size) {
      const rest = Buffer.alloc(size - evl[0]);
      await fh.read(rest, 0, rest.length, evl[0]);
      header.vlrs.push(...parseEvlrs(new Uint8Array(rest), evl[1]));
    }
    const max = opts.maxPoints ?? MAX_POINTS;
    if (header.pointCount > max) throw new LimitExceededError(`${name}: ${header.pointCount} points exceed the limit of ${max}`, { points: header.pointCount, limit: max });
    const crs = crsFromVlrs(header);
    const cloud = allocate(header, crs);
    if (header.compressed) {
      const whole = Buffer.alloc(size);
      await fh.read(whole, 0, size, 0);
      await decodeLaz(new Uint8Array(whole.buffer, whole.byteOffset, size), header, cloud, name);
    } else {
      const need = header.pointCount * header.pointLength;
      if (header.pointDataOffset + need > size) throw new UnreadableRasterError(`${name}: truncated: the header announces ${header.pointCount} points but the file is too short`, { reason: 'truncated' });
      // read in blocks so memory stays bounded by the columns, not the file
      const per = Math.max(1, Math.floor((8 << 20) / header.pointLength));
      const block = Buffer.alloc(per * header.pointLength);
      for (let start = 0; start < header.pointCount; start += per) {
        const n = Math.min(per, header.pointCount - start);
        await fh.read(block, 0, n * header.pointLength, header.pointDataOffset + start * header.pointLength);
        const view = new DataView(block.buffer, block.byteOffset, n * header.pointLength);
        for (let k = 0; k < n; k++) decodeRecord(view, k * header.pointLength, start + k, header, cloud);
      }
    }
    return cloud;
  } finally {
    await fh.close();
  }
}

function allocate(header: LasHeader, crs: Crs | null): PointCloud {
  const n = header.pointCount;
  const extra: Record<string, Float64Array> = {};
  for (const f of extraBytesFields(header)) extra[f.name] = new Float64Array(n);
  return {
    header, crs, zMetresPerUnit: verticalMetresPerUnit(header, crs), count: n,
    x: new Float64Array(n), y: new Float64Array(n), z: new Float64Array(n),
    classification: new Uint8Array(n), returnNumber: new Uint8Array(n), numberOfReturns: new Uint8Array(n), extra,
  };
}

let fieldsCache = new WeakMap<LasHeader, ReturnType<typeof extraBytesFields>>();

function decodeRecord(v: DataView, at: number, i: number, h: LasHeader, c: PointCloud): void {
  c.x[i] = v.getInt32(at, true) * h.scale[0] + h.offset[0];
  c.y[i] = v.getInt32(at + 4, true) * h.scale[1] + h.offset[1];
  c.z[i] = v.getInt32(at + 8, true) * h.scale[2] + h.offset[2];
  const b14 = v.getUint8(at + 14);
  if (h.pointFormat >= 6) {
    c.returnNumber[i] = b14 & 0x0f;
    c.numberOfReturns[i] = b14 >> 4;
    c.classification[i] = v.getUint8(at + 16);
  } else {
    c.returnNumber[i] = b14 & 0x07;
    c.numberOfReturns[i] = (b14 >> 3) & 0x07;
    c.classification[i] = v.getUint8(at + 15) & 0x1f;
  }
  let fields = fieldsCache.get(h);
  if (!fields) { fields = extraBytesFields(h); fieldsCache.set(h, fields); }
  for (const f of fields) c.extra[f.name][i] = f.read(v, at + f.offset) * f.scale + f.offsetValue;
}

interface LazModule {
  LASZip: new () => { open(p: number, n: number): void; getPoint(p: number): void; getCount(): number; getPointLength(): number; getPointFormat(): number; delete(): void };
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(p: number): void;
}

let lazModule: Promise<LazModule> | null = null;
function lazPerf(): Promise<LazModule> {
  if (!lazModule) {
    const require = createRequire(import.meta.url);
    const { createLazPerf } = require('laz-perf') as { createLazPerf: () => Promise<LazModule> };
    lazModule = createLazPerf();
  }
  return lazModule;
}

async function decodeLaz(file: Uint8Array, h: LasHeader, c: PointCloud, name: string): Promise<void> {
  const mod = await lazPerf();
  const filePtr = mod._malloc(file.length);
  if (!filePtr) throw new LimitExceededError(`${name}: too large to decompress in memory`);
  const pointPtr = mod._malloc(h.pointLength);
  const reader = new mod.LASZip();
  try {
    mod.HEAPU8.set(file, filePtr);
    try {
      reader.open(filePtr, file.length);
    } catch (err) {
      throw new UnreadableRasterError(`${name}: LAZ decompression failed: ${err instanceof Error ? err.message : String(err)}`, { reason: 'bad-laz' });
    }
    const len = reader.getPointLength();
    if (len !== h.pointLength) throw new UnreadableRasterError(`${name}: LAZ point length ${len} differs from the header's ${h.pointLength}`, { reason: 'bad-laz' });
    for (let i = 0; i < h.pointCount; i++) {
      reader.getPoint(pointPtr);
      // HEAPU8 may be replaced when WASM memory grows: take it fresh
      const heap = mod.HEAPU8;
      const view = new DataView(heap.buffer, heap.byteOffset + pointPtr, len);
      decodeRecord(view, 0, i, h, c);
    }
  } finally {
    reader.delete();
    mod._free(pointPtr);
    mod._free(filePtr);
  }
}
