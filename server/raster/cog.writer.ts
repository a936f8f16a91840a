/**
 * A streaming Cloud Optimized GeoTIFF writer. No maintained npm package writes tiled, compressed
 * GeoTIFF with internal overviews and GeoKeys (geotiff.js writes strips, uncompressed), so this is
 * the one writer every stage uses: scenes, CHM outputs, exports.
 *
 * How it streams: the caller produces the full-resolution image one strip of tile rows at a time.
 * Each pyramid level keeps one strip buffer; a full strip is cut into tiles, compressed and appended
 * to that level's spool (in memory up to a budget, then a file), then 2x2-reduced into the next
 * level's buffer. Memory is a strip per level and the spools' budget whatever the image size. At
 * the end the file is assembled in COG order: header, GDAL's structural-metadata ghost area, every
 * IFD (full resolution first, then overviews by decreasing resolution), then tile data from the
 * smallest overview to the full resolution, each tile with a 4-byte size leader and its last 4
 * bytes repeated as a trailer (what GDAL's COG driver writes, so GDAL can read tiles without
 * consulting TileByteCounts).
 *
 * Output is byte-identical for identical input: no timestamps, no software tag, deterministic
 * compression. Files that would pass 4 GiB are written as BigTIFF automatically.
 */
import { mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { deflateSync, constants as zlibConstants } from 'node:zlib';
import { endianness } from 'node:os';
import type { Grid, RasterImage, Window } from './types.ts';
import { InvalidInputError, LimitExceededError } from '../errors.ts';
import { applyPredictor } from './tiff.predictor.ts';
import { formatNodata, geoTags, ifdSize, TYPE, writeIfd, type Tag } from './tiff.ifd.ts';
import { SpoolBudget, TileSpool } from './tile.spool.ts';

/**
 * Compressed tiles a writer keeps in memory until assembly (tile.spool.ts): a CHM of about 3 km²
 * at 0.5 m; larger outputs spill to a file. Each running job's exports hold up to this much.
 */
export const SPOOL_MEMORY_BYTES = 32 * 1024 * 1024;

export type CogSampleType = 'uint8' | 'uint16' | 'int16' | 'float32';

export interface CogOptions {
  grid: Grid;
  bands: number;
  sampleType: CogSampleType;
  /** Written as the GDAL_NODATA tag; averaging overviews ignores it (and NaN). */
  nodata?: number | null;
  /** Default: 'rgb' for 3 or 4 uint8 bands, else 'minisblack'. */
  photometric?: 'rgb' | 'minisblack';
  /** Tile edge in pixels, a multiple of 16. Default 256. */
  tileSize?: number;
  /** Default 'deflate' (zlib), with a horizontal predictor (2 for integers, 3 for floats). */
  compression?: 'deflate' | 'none';
  /** Number of 2x overview levels; 'auto' (default) halves until the image fits one tile. */
  overviews?: number | 'auto';
  overviewResampling?: 'average' | 'nearest';
  /** zlib level 1-9, default 6. */
  deflateLevel?: number;
  /**
   * zlib match strategy, default 'default'. 'rle' looks only for runs (distance-1 matches): on
   * float predictor bytes it compresses about twice as fast as level 1 for a file about 5% larger
   * (a CHM's blended heights leave few longer matches to find). Either way a standard DEFLATE stream.
   */
  deflateStrategy?: 'default' | 'rle';
  /**
   * Float rasters: store each value rounded to a multiple of this (a power of two), so the low
   * mantissa bits are zero and compress away, as GDAL's DISCARD_LSB or LERC's error bound do. A
   * CHM at 2^-10 m (under 0.5 mm from the model's value) is about half the size and compresses a
   * quarter faster. Default: values stored exactly.
   */
  floatQuantum?: number;
  /** Bytes of compressed tiles held in memory before they go to a spool file (default SPOOL_MEMORY_BYTES). */
  spoolMemoryBytes?: number;
  /** Force BigTIFF (tests); by default chosen only when the file would exceed 4 GiB. */
  bigtiff?: boolean;
}

/** A strip's band planes as produced: row-major, window.width * window.height values each. */
export type StripProducer = (window: Window) => Promise<ArrayLike<number>[]> | ArrayLike<number>[];

/** Largest dimension accepted: keeps tile tables and strip buffers within sane bounds. */
const MAX_DIMENSION = 1 << 20;
const MAX_BANDS = 64;

type SampleArray = Uint8Array | Uint16Array | Int16Array | Float32Array;

interface SampleKind {
  bytes: number;
  /** TIFF SampleFormat: 1 unsigned, 2 signed, 3 IEEE float. */
  format: 1 | 2 | 3;
  make(n: number): SampleArray;
  /** Round and clamp a value into the type's range; NaN becomes `nanAs`. */
  min: number;
  max: number;
  integer: boolean;
}

const SAMPLE_KINDS: Record<CogSampleType, SampleKind> = {
  uint8: { bytes: 1, format: 1, make: (n) => new Uint8Array(n), min: 0, max: 255, integer: true },
  uint16: { bytes: 2, format: 1, make: (n) => new Uint16Array(n), min: 0, max: 65535, integer: true },
  int16: { bytes: 2, format: 2, make: (n) => new Int16Array(n), min: -32768, max: 32767, integer: true },
  float32: { bytes: 4, format: 3, make: (n) => new Float32Array(n), min: -Infinity, max: Infinity, integer: false },
};

/** The options with defaults applied and checked. */
interface Plan {
  width: number;
  height: number;
  bands: number;
  kind: SampleKind;
  sampleType: CogSampleType;
  nodata: number | null;
  photometric: 'rgb' | 'minisblack';
  tileSize: number;
  compression: 'deflate' | 'none';
  deflateLevel: number;
  deflateStrategy: number;
  /** Reciprocal of CogOptions.floatQuantum (0: exact). */
  quantumScale: number;
  resampling: 'average' | 'nearest';
  /** Sizes of level 0 (full resolution) and each overview. */
  levels: Array<{ width: number; height: number }>;
  grid: Grid;
  bigtiff: boolean | undefined;
}

function plan(opts: CogOptions): Plan {
  const { grid } = opts;
  const { width, height } = grid;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > MAX_DIMENSION || height > MAX_DIMENSION) {
    throw new InvalidInputError(`raster size must be whole pixels in 1..${MAX_DIMENSION}, got ${width} x ${height}`);
  }
  if (!Number.isInteger(opts.bands) || opts.bands < 1 || opts.bands > MAX_BANDS) throw new InvalidInputError(`bands must be 1..${MAX_BANDS}, got ${opts.bands}`);
  const kind = SAMPLE_KINDS[opts.sampleType];
  if (!kind) throw new InvalidInputError(`unsupported sample type '${opts.sampleType}'`);
  const tileSize = opts.tileSize ?? 256;
  if (!Number.isInteger(tileSize) || tileSize < 16 || tileSize > 4096 || tileSize % 16 !== 0) throw new InvalidInputError(`tileSize must be a multiple of 16 in 16..4096, got ${tileSize}`);
  if (!grid.transform || grid.transform.length !== 6 || !grid.transform.every(Number.isFinite)) throw new InvalidInputError('grid transform must be 6 finite numbers');
  const nodata = opts.nodata ?? null;
  if (nodata !== null && kind.integer && (!Number.isInteger(nodata) || nodata < kind.min || nodata > kind.max)) {
    throw new InvalidInputError(`nodata ${nodata} is not representable as ${opts.sampleType}`);
  }
  const photometric = opts.photometric ?? (opts.sampleType === 'uint8' && (opts.bands === 3 || opts.bands === 4) ? 'rgb' : 'minisblack');
  if (photometric === 'rgb' && opts.bands < 3) throw new InvalidInputError('photometric rgb needs at least 3 bands');
  const deflateLevel = opts.deflateLevel ?? 6;
  if (!Number.isInteger(deflateLevel) || deflateLevel < 1 || deflateLevel > 9) throw new InvalidInputError(`deflateLevel must be 1..9, got ${deflateLevel}`);

  const strategy = opts.deflateStrategy ?? 'default';
  if (strategy !== 'default' && strategy !== 'rle') throw new InvalidInputError(`deflateStrategy must be 'default' or 'rle', got '${String(strategy)}'`);
  const deflateStrategy = strategy === 'rle' ? zlibConstants.Z_RLE : zlibConstants.Z_DEFAULT_STRATEGY;

  const quantum = opts.floatQuantum;
  if (quantum !== undefined && (kind.integer || !(quantum > 0) || 2 ** Math.round(Math.log2(quantum)) !== quantum)) {
    throw new InvalidInputError(`floatQuantum must be a power of two for a float raster, got ${quantum}`);
  }
  const quantumScale = quantum === undefined ? 0 : 1 / quantum;

  const levels = [{ width, height }];
  const wanted = opts.overviews ?? 'auto';
  if (wanted !== 'auto' && (!Number.isInteger(wanted) || wanted < 0 || wanted > 30)) throw new InvalidInputError(`overviews must be 'auto' or 0..30, got ${wanted}`);
  for (;;) {
    const last = levels[levels.length - 1];
    if (wanted === 'auto' ? last.width <= tileSize && last.height <= tileSize : levels.length > wanted) break;
    if (last.width === 1 && last.height === 1) break;
    levels.push({ width: Math.ceil(last.width / 2), height: Math.ceil(last.height / 2) });
  }
  return {
    width, height, bands: opts.bands, kind, sampleType: opts.sampleType, nodata, photometric, tileSize,
    compression: opts.compression ?? 'deflate', deflateLevel, deflateStrategy, quantumScale, resampling: opts.overviewResampling ?? 'average',
    levels, grid, bigtiff: opts.bigtiff,
  };
}

/**
 * A value to the nearest multiple of 1 / scale, halves up (Math.round's rule). scale is a power of
 * two, so the product and the quotient are exact; floor(v + 0.5) runs 8x faster than Math.round
 * in V8 and agrees with it here (a scaled float32 has at most 24 significant bits).
 */
function toQuantum(v: number, scale: number): number {
  return Math.floor(v * scale + 0.5) / scale;
}

/** toQuantum over a float32 strip. Monomorphic: the CHM's hot loop. */
function roundToQuantum(src: Float32Array, dst: Float32Array, dstOffset: number, n: number, scale: number): void {
  for (let i = 0; i < n; i++) dst[dstOffset + i] = toQuantum(src[i], scale);
}

/** Round and clamp into the sample type, the way a careful GDAL write would (no wrap-around). */
function quantizeInto(src: ArrayLike<number>, dst: SampleArray, dstOffset: number, n: number, kind: SampleKind, nanAs: number, quantumScale: number): void {
  if (!kind.integer) {
    if (!quantumScale && src instanceof Float32Array) dst.set(src.subarray(0, n), dstOffset);
    else if (quantumScale && src instanceof Float32Array) roundToQuantum(src, dst as Float32Array, dstOffset, n, quantumScale);
    else for (let i = 0; i < n; i++) dst[dstOffset + i] = quantumScale ? toQuantum(src[i], quantumScale) : src[i];
    return;
  }
  if ((src instanceof Uint8Array && dst instanceof Uint8Array) || (src instanceof Uint16Array && dst instanceof Uint16Array) || (src instanceof Int16Array && dst instanceof Int16Array)) {
    dst.set(src.subarray(0, n), dstOffset);
    return;
  }
  const { min, max } = kind;
  for (let i = 0; i < n; i++) {
    const v = src[i];
    dst[dstOffset + i] = v !== v ? nanAs : v <= min ? min : v >= max ? max : Math.round(v);
  }
}

/** One pyramid level: a strip buffer being filled, and the spool its finished tiles go to. */
class Level {
  readonly tilesAcross: number;
  readonly tilesDown: number;
  readonly planes: SampleArray[];
  /** Rows of the current strip held so far; the strip starts at row stripIndex * tileSize. */
  rowsFilled = 0;
  stripIndex = 0;
  /** Offset of each tile's data inside the spool (after its leader), and its byte count. */
  readonly tileOffsets: number[] = [];
  readonly tileBytes: number[] = [];

  constructor(readonly index: number, readonly width: number, readonly height: number, readonly p: Plan, readonly spool: TileSpool, readonly uniform: UniformTiles) {
    this.tilesAcross = Math.ceil(width / p.tileSize);
    this.tilesDown = Math.ceil(height / p.tileSize);
    this.planes = Array.from({ length: p.bands }, () => p.kind.make(width * p.tileSize));
  }

  private tileBuffers: SampleArray[] = [];

  /** Tile `tx`'s buffer: the same memory strip after strip (a strip's tiles are compressed before the next is cut). */
  tileBuffer(tx: number): SampleArray {
    return (this.tileBuffers[tx] ??= this.p.kind.make(this.p.tileSize * this.p.tileSize * this.p.bands));
  }

  /** Rows the current strip must hold before it is complete (the last strip is shorter). */
  get stripRows(): number {
    return Math.min(this.p.tileSize, this.height - this.stripIndex * this.p.tileSize);
  }
}

/**
 * Streams a raster to a COG. `produce` is called for each strip of tile rows, top to bottom
 * (window = full width x tileSize rows, last one shorter), and returns one plane per band (row-major
 * values of the window's size). Memory stays bounded by a strip per pyramid level whatever the size.
 * Values are rounded and clamped into integer sample types.
 */
export async function writeCog(path: string, opts: CogOptions, produce: StripProducer): Promise<void> {
  if (endianness() !== 'LE') throw new Error('the COG writer assumes a little-endian host');
  const p = plan(opts);
  const work = await mkdtemp(join(dirname(path), `.${basename(path)}.tmp-`));
  const levels: Level[] = [];
  const uniform: UniformTiles = new Map();
  const budget = new SpoolBudget(opts.spoolMemoryBytes ?? SPOOL_MEMORY_BYTES);
  try {
    for (let i = 0; i < p.levels.length; i++) {
      levels.push(new Level(i, p.levels[i].width, p.levels[i].height, p, new TileSpool(join(work, `level${i}.bin`), budget), uniform));
    }
    const base = levels[0];
    const nanAs = p.nodata ?? 0;
    for (let s = 0; s < base.tilesDown; s++) {
      const window: Window = { x: 0, y: s * p.tileSize, width: p.width, height: base.stripRows };
      const planes = await produce(window);
      const n = window.width * window.height;
      if (!Array.isArray(planes) || planes.length !== p.bands) throw new InvalidInputError(`strip producer returned ${Array.isArray(planes) ? planes.length : 'no'} planes, expected ${p.bands}`);
      for (let b = 0; b < p.bands; b++) {
        if (!planes[b] || planes[b].length < n) throw new InvalidInputError(`strip producer's band ${b + 1} has ${planes[b]?.length ?? 0} values, expected ${n}`);
        quantizeInto(planes[b], base.planes[b], 0, n, p.kind, nanAs, p.quantumScale);
      }
      base.rowsFilled = window.height;
      await flushStrip(levels, 0);
    }
    const tmpOut = join(work, 'out.tif');
    await assemble(tmpOut, p, levels);
    await rename(tmpOut, path);
  } finally {
    for (const level of levels) await level.spool.close().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

/** The level's strip is complete: write its tiles, feed its 2x2 reduction to the next level. */
async function flushStrip(levels: Level[], index: number): Promise<void> {
  const level = levels[index];
  await writeStripTiles(level);
  const next = levels[index + 1];
  if (next) {
    const rows = reduceInto(level, next);
    next.rowsFilled += rows;
    if (next.rowsFilled === next.stripRows) await flushStrip(levels, index + 1);
  }
  level.stripIndex++;
  level.rowsFilled = 0;
}

/** 2x2 reduction of `from`'s current strip, appended to `to`'s strip buffer; returns rows added. */
function reduceInto(from: Level, to: Level): number {
  const { p } = from;
  const rowsIn = from.rowsFilled;
  const rowsOut = Math.ceil(rowsIn / 2);
  const wIn = from.width;
  const wOut = to.width;
  const nodata = p.nodata;
  const average = p.resampling === 'average';
  const round = p.kind.integer;
  // a float overview is stored to the same quantum as its level 0
  const q = p.quantumScale;
  for (let b = 0; b < p.bands; b++) {
    const src = from.planes[b];
    const dst = to.planes[b];
    for (let ro = 0; ro < rowsOut; ro++) {
      const r0 = ro * 2;
      const r1 = r0 + 1 < rowsIn ? r0 + 1 : -1;
      const dstRow = (to.rowsFilled + ro) * wOut;
      for (let co = 0; co < wOut; co++) {
        const c0 = co * 2;
        if (!average) {
          dst[dstRow + co] = src[r0 * wIn + c0];
          continue;
        }
        const c1 = c0 + 1 < wIn ? c0 + 1 : -1;
        // Up to four samples; NaN and nodata are skipped (no closure here: this is the hot loop).
        let sum = 0;
        let count = 0;
        let v = src[r0 * wIn + c0];
        if (v === v && v !== nodata) (sum += v), count++;
        if (c1 >= 0) {
          v = src[r0 * wIn + c1];
          if (v === v && v !== nodata) (sum += v), count++;
        }
        if (r1 >= 0) {
          v = src[r1 * wIn + c0];
          if (v === v && v !== nodata) (sum += v), count++;
          if (c1 >= 0) {
            v = src[r1 * wIn + c1];
            if (v === v && v !== nodata) (sum += v), count++;
          }
        }
        dst[dstRow + co] = count === 0 ? (nodata ?? 0) : round ? Math.round(sum / count) : q ? toQuantum(sum / count, q) : sum / count;
      }
    }
  }
  return rowsOut;
}

/** Cut the level's strip into tiles (edge tiles padded with nodata or 0), compress, spool. */
async function writeStripTiles(level: Level): Promise<void> {
  const { p } = level;
  const ts = p.tileSize;
  const spp = p.bands;
  const pad = p.nodata ?? 0;
  const tiles: Uint8Array[] = [];
  for (let tx = 0; tx < level.tilesAcross; tx++) {
    const tile = level.tileBuffer(tx);
    const x0 = tx * ts;
    const cols = Math.min(ts, level.width - x0);
    if (cols < ts || level.rowsFilled < ts) tile.fill(pad);
    for (let r = 0; r < level.rowsFilled; r++) {
      const srcRow = r * level.width + x0;
      const dstRow = r * ts * spp;
      if (spp === 1) {
        tile.set(level.planes[0].subarray(srcRow, srcRow + cols), dstRow);
      } else {
        for (let b = 0; b < spp; b++) {
          const plane = level.planes[b];
          for (let c = 0; c < cols; c++) tile[dstRow + c * spp + b] = plane[srcRow + c];
        }
      }
    }
    tiles.push(tileBytes(tile));
  }
  const encoded: Uint8Array[] = [];
  for (const t of tiles) {
    const word = repeatedWord(t);
    let data = word === null ? undefined : level.uniform.get(word);
    if (!data) {
      // a turn of the event loop between tiles: compression runs on this thread (encodeTile)
      await new Promise(setImmediate);
      data = encodeTile(t, p);
      if (word !== null) level.uniform.set(word, data);
    }
    encoded.push(data);
  }
  const frames: Uint8Array[] = [];
  let at = level.spool.size;
  for (const data of encoded) {
    // Leader: the byte count as uint32; trailer: the last 4 bytes again (GDAL's COG convention).
    const leader = Buffer.alloc(4);
    leader.writeUInt32LE(data.length, 0);
    frames.push(leader, data, data.subarray(data.length - 4));
    level.tileOffsets.push(at + 4);
    level.tileBytes.push(data.length);
    at += data.length + 8;
  }
  await level.spool.append(frames);
}

/**
 * Encoded tiles whose bytes repeat one 32-bit word, by that word: a tile of one value (nodata past
 * a region's edge, or between a MultiPolygon's parts) is encoded once per file. Its bytes depend
 * only on the word, since every tile of a file has the same size and encoding.
 */
type UniformTiles = Map<number, Uint8Array>;

/** The word a tile's bytes repeat, or null when they are not one word repeated. */
function repeatedWord(bytes: Uint8Array): number | null {
  if (bytes.byteLength % 4 !== 0 || bytes.byteOffset % 4 !== 0) return null;
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const first = words[0];
  for (let i = 1; i < words.length; i++) if (words[i] !== first) return null;
  return first;
}

function tileBytes(a: SampleArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * A tile's bytes as stored: predictor, then zlib on this thread. Node's asynchronous zlib took as
 * much CPU again as the compression itself, in stream set-up, hand-offs to libuv's threads and their
 * callbacks (bench/cog.deflate.ts: 96 CHM tiles took 166-216 ms of process CPU, against 122-136 ms
 * synchronously); on two cores that CPU is the model's. A tile takes about a millisecond, and
 * writeStripTiles gives the event loop a turn between tiles.
 */
function encodeTile(bytes: Uint8Array, p: Plan): Uint8Array {
  if (p.compression === 'none') return bytes;
  // the transform follows the tag this plan writes, so the two cannot disagree
  const predictor = predictorOf(p);
  if (predictor !== 1) applyPredictor(bytes, predictor, p.tileSize, p.bands, p.kind.bytes);
  // one output chunk for the whole tile: no concatenating copy
  return deflateSync(bytes, { level: p.deflateLevel, strategy: p.deflateStrategy, chunkSize: Math.max(16384, bytes.length + 1024) });
}

/** TIFF Predictor tag value for the plan: 2 horizontal differencing, 3 floating point, 1 none. */
function predictorOf(p: Plan): 1 | 2 | 3 {
  if (p.compression === 'none') return 1;
  return p.kind.integer ? 2 : 3;
}

function levelTags(p: Plan, level: Level, tileOffsets: number[], big: boolean): Tag[] {
  const spp = p.bands;
  const tags: Tag[] = [
    { code: 254, type: TYPE.LONG, values: [level.index === 0 ? 0 : 1] },
    { code: 256, type: TYPE.LONG, values: [level.width] },
    { code: 257, type: TYPE.LONG, values: [level.height] },
    { code: 258, type: TYPE.SHORT, values: new Array(spp).fill(p.kind.bytes * 8) },
    { code: 259, type: TYPE.SHORT, values: [p.compression === 'deflate' ? 8 : 1] },
    { code: 262, type: TYPE.SHORT, values: [p.photometric === 'rgb' ? 2 : 1] },
    { code: 277, type: TYPE.SHORT, values: [spp] },
    { code: 284, type: TYPE.SHORT, values: [1] },
    { code: 322, type: TYPE.LONG, values: [p.tileSize] },
    { code: 323, type: TYPE.LONG, values: [p.tileSize] },
    { code: 324, type: big ? TYPE.LONG8 : TYPE.LONG, values: tileOffsets },
    { code: 325, type: big ? TYPE.LONG8 : TYPE.LONG, values: level.tileBytes },
    { code: 339, type: TYPE.SHORT, values: new Array(spp).fill(p.kind.format) },
  ];
  const predictor = predictorOf(p);
  if (predictor !== 1) tags.push({ code: 317, type: TYPE.SHORT, values: [predictor] });
  const colourChannels = p.photometric === 'rgb' ? 3 : 1;
  // Bands beyond the colour channels: a 4th RGB band is alpha-like but we don't claim it is.
  if (spp > colourChannels) tags.push({ code: 338, type: TYPE.SHORT, values: new Array(spp - colourChannels).fill(0) });
  if (p.nodata !== null) tags.push({ code: 42113, type: TYPE.ASCII, values: formatNodata(p.nodata) });
  if (level.index === 0) tags.push(...geoTags(p.grid));
  return tags;
}

/** GDAL's structural metadata block, which marks the file as laid out by a COG writer. */
function ghostArea(): Buffer {
  let body = 'LAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nBLOCK_LEADER=SIZE_AS_UINT4\nBLOCK_TRAILER=LAST_4_BYTES_REPEATED\nKNOWN_INCOMPATIBLE_EDITION=NO\n';
  const head = (n: number) => `GDAL_STRUCTURAL_METADATA_SIZE=${String(n).padStart(6, '0')} bytes\n`;
  if ((head(0).length + body.length) % 2 === 1) body += ' ';
  return Buffer.from(head(body.length) + body, 'latin1');
}

const CLASSIC_LIMIT = 2 ** 32 - 1;

async function assemble(outPath: string, p: Plan, levels: Level[]): Promise<void> {
  const ghost = ghostArea();
  const layout = (big: boolean) => {
    const headerSize = big ? 16 : 8;
    const ifdStarts: number[] = [];
    let pos = headerSize + ghost.length;
    for (const level of levels) {
      ifdStarts.push(pos);
      pos += ifdSize(levelTags(p, level, level.tileOffsets, big), big);
    }
    const dataStart = pos;
    // Smallest overview first, full resolution last.
    const levelDataStart: number[] = new Array(levels.length);
    for (let i = levels.length - 1; i >= 0; i--) {
      levelDataStart[i] = pos;
      pos += levels[i].spool.size;
    }
    return { headerSize, ifdStarts, dataStart, levelDataStart, total: pos };
  };
  let big = p.bigtiff ?? false;
  let l = layout(big);
  if (!big && l.total > CLASSIC_LIMIT) {
    big = true;
    l = layout(true);
  }
  if (l.total > Number.MAX_SAFE_INTEGER) throw new LimitExceededError('COG too large');

  const head = Buffer.alloc(l.dataStart);
  head.write('II', 0, 'latin1');
  if (big) {
    head.writeUInt16LE(43, 2);
    head.writeUInt16LE(8, 4);
    head.writeUInt16LE(0, 6);
    head.writeBigUInt64LE(BigInt(l.ifdStarts[0]), 8);
  } else {
    head.writeUInt16LE(42, 2);
    head.writeUInt32LE(l.ifdStarts[0], 4);
  }
  ghost.copy(head, l.headerSize);
  levels.forEach((level, i) => {
    const offsets = level.tileOffsets.map((o) => o + l.levelDataStart[i]);
    const next = i + 1 < levels.length ? l.ifdStarts[i + 1] : 0;
    writeIfd(head, l.ifdStarts[i], levelTags(p, level, offsets, big), next, big);
  });

  const out = await open(outPath, 'w');
  try {
    await out.write(head, 0, head.length, 0);
    let pos = head.length;
    for (let i = levels.length - 1; i >= 0; i--) {
      await levels[i].spool.copyTo(out, pos);
      pos += levels[i].spool.size;
    }
    if (pos !== l.total) throw new Error(`COG assembly wrote ${pos} bytes, planned ${l.total}`);
  } finally {
    await out.close();
  }
  const { size } = await stat(outPath);
  if (size !== l.total) throw new Error(`COG size ${size} differs from planned ${l.total}`);
}

/**
 * Writes a small in-memory raster as a COG. Masked pixels become nodata: `opts.nodata` when given,
 * else NaN for float32 and 0 for integer types.
 */
export async function writeCogImage(path: string, image: RasterImage, opts: Omit<CogOptions, 'grid' | 'bands'>): Promise<void> {
  const { grid, bands, mask } = image;
  const n = grid.width * grid.height;
  if (bands.length === 0) throw new InvalidInputError('image has no bands');
  for (const b of bands) if (b.length !== n) throw new InvalidInputError(`band has ${b.length} values, expected ${n}`);
  if (mask && mask.length !== n) throw new InvalidInputError(`mask has ${mask.length} values, expected ${n}`);
  const nodata = opts.nodata ?? (mask ? (opts.sampleType === 'float32' ? NaN : 0) : null);
  await writeCog(path, { ...opts, grid, bands: bands.length, nodata }, (w) =>
    bands.map((band) => {
      const start = w.y * grid.width;
      const plane = band.slice(start, start + w.width * w.height);
      if (mask && nodata !== null) for (let i = 0; i < plane.length; i++) if (!mask[start + i]) plane[i] = nodata;
      return plane;
    }),
  );
}
