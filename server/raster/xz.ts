/**
 * The .xz container (tukaani.org's xz file format 1.0.4) as libtiff's LZMA codec writes each TIFF
 * block: one stream of LZMA2 blocks, after a delta filter (libtiff's default), checked by CRC32,
 * CRC64, SHA-256 or nothing (libtiff's default). Pure: bytes in, bytes out.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { decodeLzma2, lzma2Extent, Lzma2Error, type Lzma2Output } from './lzma2.ts';

export class XzError extends Error {}

const MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const FILTER_DELTA = 0x03, FILTER_LZMA2 = 0x21;
/** Check sizes by check type (the format reserves the types it does not name). */
const CHECK_SIZE = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];
const CHECK_NAMES: Record<number, string> = { 0: 'none', 1: 'CRC32', 4: 'CRC64', 10: 'SHA-256' };

/**
 * The bytes an xz stream decodes to; at most `maxBytes` of them (a TIFF block's size: more is an
 * error, not an allocation). The blocks are walked first (their LZMA2 chunk headers give their
 * sizes), so the output is allocated once, at its size. Each block is verified by the stream's
 * check; what follows the last block (index, footer) is not needed to decode and is not read.
 */
export function decodeXz(input: Uint8Array, maxBytes: number): Uint8Array {
  try {
    const { check, blocks } = parseStream(input);
    const total = blocks.reduce((n, b) => n + b.bytes, 0);
    if (total > maxBytes) throw new XzError(`the xz stream decodes to ${total} bytes, more than the ${maxBytes} its block holds`);
    const out: Lzma2Output = { buf: new Uint8Array(total), pos: 0, dictStart: 0 };
    for (const b of blocks) {
      const start = out.pos;
      decodeLzma2(input, b.dataStart, out);
      const bytes = out.buf.subarray(start, out.pos);
      // delta filters decode after LZMA2, in reverse order of the list
      for (let k = b.deltas.length - 1; k >= 0; k--) undoDelta(bytes, b.deltas[k]);
      verify(bytes, check, input.subarray(b.checkStart, b.checkStart + CHECK_SIZE[check]));
    }
    return out.buf;
  } catch (err) {
    if (err instanceof Lzma2Error) throw new XzError(err.message);
    throw err;
  }
}

interface XzBlock {
  /** Where its LZMA2 data begins, and its check. */
  dataStart: number;
  checkStart: number;
  /** Delta filter distances, in the order the block header lists them. */
  deltas: number[];
  /** Bytes it decodes to. */
  bytes: number;
}

function parseStream(input: Uint8Array): { check: number; blocks: XzBlock[] } {
  if (input.length < 12 || MAGIC.some((b, i) => input[i] !== b)) throw new XzError('not an xz stream (no xz magic bytes)');
  if (input[6] !== 0 || input[7] > 0x0f) throw new XzError('unsupported xz stream flags');
  if (crc32(input.subarray(6, 8)) !== readU32(input, 8)) throw new XzError('the xz stream header is corrupt (CRC32 mismatch)');
  const check = input[7];
  if (check !== 0 && !(check in CHECK_NAMES)) throw new XzError(`an xz check of reserved type ${check} cannot be verified`);
  const blocks: XzBlock[] = [];
  let pos = 12;
  for (;;) {
    if (pos >= input.length) throw new XzError('the xz stream ends inside its blocks');
    if (input[pos] === 0x00) return { check, blocks }; // the index: every block has been seen
    const block = parseBlock(input, pos, check);
    blocks.push(block);
    pos = block.checkStart + CHECK_SIZE[check];
  }
}

/** One block at input[pos]: its header, the extent of its LZMA2 data, its padding and check. */
function parseBlock(input: Uint8Array, pos: number, check: number): XzBlock {
  const headerSize = (input[pos] + 1) * 4;
  if (pos + headerSize > input.length) throw new XzError('an xz block header is truncated');
  if (crc32(input.subarray(pos, pos + headerSize - 4)) !== readU32(input, pos + headerSize - 4)) throw new XzError('an xz block header is corrupt (CRC32 mismatch)');
  const flags = input[pos + 1];
  if (flags & 0x3c) throw new XzError('unsupported xz block flags');
  const header = { buf: input, pos: pos + 2, end: pos + headerSize - 4 };
  const compressedSize = flags & 0x40 ? readVli(header) : null;
  const uncompressedSize = flags & 0x80 ? readVli(header) : null;
  const filters: Array<{ id: number; props: Uint8Array }> = [];
  for (let i = 0; i <= (flags & 0x03); i++) {
    const id = readVli(header), size = readVli(header);
    if (header.pos + size > header.end) throw new XzError('an xz filter list is truncated');
    filters.push({ id, props: input.subarray(header.pos, header.pos + size) });
    header.pos += size;
  }
  // the filters are listed in the order they encode: LZMA2 last, decoded first
  const last = filters[filters.length - 1];
  if (last.id !== FILTER_LZMA2) throw new XzError(`an xz block ends with filter 0x${last.id.toString(16)}, not LZMA2`);
  const deltas = filters.slice(0, -1).map((f) => {
    if (f.id !== FILTER_DELTA || f.props.length !== 1) throw new XzError(`xz filter 0x${f.id.toString(16)} is not supported (LZMA2 and delta are)`);
    return f.props[0] + 1;
  });
  const dataStart = pos + headerSize;
  const { bytes, end } = lzma2Extent(input, dataStart);
  if (compressedSize !== null && end - dataStart !== compressedSize) throw new XzError('an xz block is not the size its header states');
  if (uncompressedSize !== null && bytes !== uncompressedSize) throw new XzError('an xz block does not decode to the size its header states');
  const checkStart = end + ((4 - ((end - pos) % 4)) % 4);
  for (let i = end; i < checkStart; i++) if (input[i] !== 0) throw new XzError('an xz block has non-zero padding');
  if (checkStart + CHECK_SIZE[check] > input.length) throw new XzError('an xz block is truncated');
  return { dataStart, checkStart, deltas, bytes };
}

function verify(bytes: Uint8Array, check: number, stored: Uint8Array): void {
  const ok = check === 0 ? true
    : check === 1 ? crc32(bytes) === readU32(stored, 0)
    : check === 4 ? crc64(bytes) === readU64(stored, 0)
    : Buffer.from(createHash('sha256').update(bytes).digest()).equals(stored);
  if (!ok) throw new XzError(`an xz block is corrupt (${CHECK_NAMES[check]} mismatch)`);
}

/** The delta filter's inverse: each byte adds the one `distance` before it (zero before the first). */
function undoDelta(bytes: Uint8Array, distance: number): void {
  for (let i = distance; i < bytes.length; i++) bytes[i] = (bytes[i] + bytes[i - distance]) & 0xff;
}

function readVli(h: { buf: Uint8Array; pos: number; end: number }): number {
  let value = 0;
  for (let i = 0; i < 9; i++) {
    if (h.pos >= h.end) throw new XzError('an xz block header is truncated');
    const b = h.buf[h.pos++];
    value += (b & 0x7f) * 2 ** (7 * i);
    if (!(b & 0x80)) {
      if (!Number.isSafeInteger(value)) throw new XzError('an xz size is out of range');
      return value;
    }
  }
  throw new XzError('an xz variable-length integer is too long');
}

function readU32(b: Uint8Array, pos: number): number {
  return (b[pos] | (b[pos + 1] << 8) | (b[pos + 2] << 16) | (b[pos + 3] << 24)) >>> 0;
}

function readU64(b: Uint8Array, pos: number): bigint {
  return BigInt(readU32(b, pos)) | (BigInt(readU32(b, pos + 4)) << 32n);
}

let crc64Table: BigUint64Array | null = null;

/** CRC64 (ECMA-182 polynomial, reflected), as xz's check type 4. */
export function crc64(bytes: Uint8Array): bigint {
  if (!crc64Table) {
    crc64Table = new BigUint64Array(256);
    for (let n = 0; n < 256; n++) {
      let c = BigInt(n);
      for (let k = 0; k < 8; k++) c = c & 1n ? 0xc96c5795d7870f42n ^ (c >> 1n) : c >> 1n;
      crc64Table[n] = c;
    }
  }
  let crc = 0xffffffffffffffffn;
  for (let i = 0; i < bytes.length; i++) crc = crc64Table[Number((crc ^ BigInt(bytes[i])) & 0xffn)] ^ (crc >> 8n);
  return crc ^ 0xffffffffffffffffn;
}
