/**
 * LAS 1.0-1.4 public header block, VLRs and EVLRs, and the point record layouts of point data
 * formats 0-10 (ASPRS LAS specification R15). Pure parsing of a byte buffer.
 */
import { UnreadableRasterError } from '../errors.ts';

export interface Vlr {
  userId: string;
  recordId: number;
  description: string;
  data: Uint8Array;
}

export interface LasHeader {
  versionMajor: number;
  versionMinor: number;
  globalEncoding: number;
  headerSize: number;
  pointDataOffset: number;
  /** Point data record format 0-10 (compression bit removed). */
  pointFormat: number;
  /** LAZ: the point data are compressed (format byte has bit 7 or 6 set, or a laszip VLR). */
  compressed: boolean;
  pointLength: number;
  pointCount: number;
  scale: [number, number, number];
  offset: [number, number, number];
  min: [number, number, number];
  max: [number, number, number];
  vlrs: Vlr[];
}

/** Core record size of each point format; the rest of a record are extra bytes. */
export const POINT_BASE_SIZE = [20, 28, 26, 34, 57, 63, 30, 36, 38, 59, 67];

const text = (b: Uint8Array) => new TextDecoder().decode(b).replace(/\0.*$/s, '').trim();

export function parseHeader(buf: Uint8Array, name: string, fileSize: number): LasHeader {
  const bad = (why: string) => new UnreadableRasterError(`${name}: not a readable LAS/LAZ file: ${why}`, { reason: 'bad-las' });
  if (buf.length < 227) throw bad('shorter than a LAS header');
  if (text(buf.subarray(0, 4)) !== 'LASF') throw bad("no 'LASF' signature");
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const versionMajor = buf[24], versionMinor = buf[25];
  if (versionMajor !== 1 || versionMinor > 4) throw bad(`unsupported version ${versionMajor}.${versionMinor}`);
  const headerSize = v.getUint16(94, true);
  const pointDataOffset = v.getUint32(96, true);
  const nVlr = v.getUint32(100, true);
  const formatByte = buf[104];
  const pointFormat = formatByte & 0x3f;
  const pointLength = v.getUint16(105, true);
  let pointCount = v.getUint32(107, true);
  if (versionMinor >= 4 && headerSize >= 375) {
    const big = Number(v.getBigUint64(247, true));
    if (big > 0) pointCount = big;
  }
  if (pointFormat > 10) throw bad(`unknown point data format ${pointFormat}`);
  if (pointLength < POINT_BASE_SIZE[pointFormat]) throw bad(`point record length ${pointLength} is shorter than format ${pointFormat} needs`);
  if (headerSize < 227 || pointDataOffset < headerSize || pointDataOffset > fileSize) throw bad('inconsistent header size or point data offset');
  const f64 = (o: number) => v.getFloat64(o, true);
  const scale: [number, number, number] = [f64(131), f64(139), f64(147)];
  if (!scale.every((s) => Number.isFinite(s) && s !== 0)) throw bad('zero or invalid scale factors');
  const vlrs: Vlr[] = [];
  let o = headerSize;
  // the VLRs are parsed when the buffer holds everything up to the point data
  for (let k = 0; k < nVlr && buf.length >= pointDataOffset; k++) {
    if (o + 54 > buf.length) throw bad('VLRs run past the point data offset');
    const len = v.getUint16(o + 20, true);
    if (o + 54 + len > buf.length) throw bad('a VLR runs past the point data offset');
    vlrs.push({ userId: text(buf.subarray(o + 2, o + 18)), recordId: v.getUint16(o + 18, true), description: text(buf.subarray(o + 22, o + 54)), data: buf.slice(o + 54, o + 54 + len) });
    o += 54 + len;
  }
  const compressed = (formatByte & 0xc0) !== 0 || vlrs.some((r) => r.userId === 'laszip encoded');
  return {
    versionMajor, versionMinor, globalEncoding: v.getUint16(6, true), headerSize, pointDataOffset, pointFormat, compressed,
    pointLength, pointCount, scale, offset: [f64(155), f64(163), f64(171)],
    max: [f64(179), f64(195), f64(211)], min: [f64(187), f64(203), f64(219)], vlrs,
  };
}

/** EVLRs (LAS 1.4) start at the offset in the header; returns [offset, count] or null. */
export function evlrLocation(buf: Uint8Array, h: LasHeader): [number, number] | null {
  if (h.versionMinor < 4 || h.headerSize < 375) return null;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const start = Number(v.getBigUint64(235, true));
  const count = v.getUint32(243, true);
  return start > 0 && count > 0 ? [start, count] : null;
}

export function parseEvlrs(buf: Uint8Array, count: number): Vlr[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Vlr[] = [];
  let o = 0;
  for (let k = 0; k < count && o + 60 <= buf.length; k++) {
    const len = Number(v.getBigUint64(o + 20, true));
    if (o + 60 + len > buf.length) break;
    out.push({ userId: text(buf.subarray(o + 2, o + 18)), recordId: v.getUint16(o + 18, true), description: text(buf.subarray(o + 28, o + 60)), data: buf.slice(o + 60, o + 60 + len) });
    o += 60 + len;
  }
  return out;
}

export interface ExtraBytesField {
  name: string;
  /** Byte offset within the record. */
  offset: number;
  size: number;
  read: (v: DataView, at: number) => number;
  scale: number;
  offsetValue: number;
}

/** Extra bytes described by the LASF_Spec/4 VLR (scalar types 1-10; type 0 = opaque bytes, skipped). */
export function extraBytesFields(h: LasHeader): ExtraBytesField[] {
  const vlr = h.vlrs.find((r) => r.userId === 'LASF_Spec' && r.recordId === 4);
  if (!vlr) return [];
  const v = new DataView(vlr.data.buffer, vlr.data.byteOffset, vlr.data.byteLength);
  const readers: Array<[number, (v: DataView, at: number) => number] | null> = [
    null,
    [1, (d, a) => d.getUint8(a)], [1, (d, a) => d.getInt8(a)], [2, (d, a) => d.getUint16(a, true)], [2, (d, a) => d.getInt16(a, true)],
    [4, (d, a) => d.getUint32(a, true)], [4, (d, a) => d.getInt32(a, true)], [8, (d, a) => Number(d.getBigUint64(a, true))],
    [8, (d, a) => Number(d.getBigInt64(a, true))], [4, (d, a) => d.getFloat32(a, true)], [8, (d, a) => d.getFloat64(a, true)],
  ];
  const fields: ExtraBytesField[] = [];
  let at = POINT_BASE_SIZE[h.pointFormat];
  for (let o = 0; o + 192 <= vlr.data.length; o += 192) {
    const type = vlr.data[o + 2], options = vlr.data[o + 3];
    const name = text(vlr.data.subarray(o + 4, o + 36));
    if (type === 0) { at += options; continue; }
    const r = type <= 10 ? readers[type] : null;
    if (!r) break; // deprecated array types: stop describing, the bytes are still skipped by record length
    const hasScale = (options & 8) !== 0, hasOffset = (options & 16) !== 0;
    fields.push({ name, offset: at, size: r[0], read: r[1], scale: hasScale ? v.getFloat64(o + 112, true) : 1, offsetValue: hasOffset ? v.getFloat64(o + 136, true) : 0 });
    at += r[0];
  }
  return fields.filter((f) => f.offset + f.size <= h.pointLength);
}
