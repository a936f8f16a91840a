/**
 * Opening GeoTIFFs (geotiff.js) and reading pixels from them. `openRaster` keeps an LRU of the
 * promises that open files (linz/basemaps' source.cache): concurrent callers share one open, and
 * a failed open is dropped so the next call retries. A source validates the file when it opens
 * (georeferencing, CRS, dimensions, sample types, truncation), so a bad upload fails at
 * registration with a clear UnreadableRasterError rather than at the first tile.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { fromFile, type GeoTIFF, type GeoTIFFImage } from 'geotiff';
import { InvalidInputError, LimitExceededError, UnreadableRasterError } from '../errors.ts';
import { Bounds } from '../../tiles/bounds.ts';
import { isMercator, metresPerUnit, projector, sameCrs, WGS84 } from '../../tiles/projection.ts';
import './native.deflate.ts';
import './native.webp.ts';
import './native.jpeg.ts';
import './tiff.lzma.ts';
import './tiff.lzw.ts';
import { dropBlocks, readTiledWindow } from './block.cache.ts';
import { expandPalette, paletteOf, photometricOf, ycbcrToRgb, type Palette } from './colour.ts';
import { compressionName, decodable, sampleTypeOf, type RasterLevelInfo, type RasterMetadata } from './metadata.ts';
import { affineMapping, resampleBlock, type PixelBlock, type PixelMapping, type Resampling } from './resample.ts';
import { approxTransform } from '../../tiles/approx.transform.ts';
import type { Affine, Grid, RasterImage, SampleType, Window } from './types.ts';
import { pamBandsOf, type PamBand } from './pam.ts';
import { overviewVersion, sidecarVersion } from './file.version.ts';
import { georeferencingOf } from './georeferencing.ts';
import { hasTiffHeader, notTiffAdvice, SNIFF_BYTES } from './file.kind.ts';
import { assignMasks, externalMasks } from './masks.ts';
import { allValid, decimatedRead, MASK_SPAN_PIXELS, nearestIndices, sampledRead } from './sampled.read.ts';
import { checkNotTruncated, first, tag, unreadable } from './tiff.tags.ts';

export type { RasterMetadata } from './metadata.ts';
export type { PixelBlock, Resampling } from './resample.ts';

/** Largest side we accept, and largest pixel count: beyond these a header is taken as corrupt. */
const MAX_SIDE = 1_000_000;
const MAX_PIXELS = 4e10;
/** A single read decodes at most this many source pixels; larger reads are decimated (nearest). */
export const MAX_READ_PIXELS = 4096 * 4096;
/** A single read produces at most this many output pixels. */
export const MAX_OUTPUT_PIXELS = 8192 * 8192;

export interface ReadWindowOptions {
  /** Level to read from (0 = full resolution, i = i-th overview). Default: the coarsest that fits. */
  overview?: number;
  outWidth?: number;
  outHeight?: number;
  /** 0-based data band indices. Default: all data bands. */
  bands?: number[];
  resampling?: 'nearest' | 'bilinear';
}

export interface ReadGridOptions {
  resampling?: Resampling;
  bands?: number[];
}

/** Decoded pixels in the file's own sample type (or float32), mask 1 = valid, null = all valid. */
export interface SampleBlock {
  width: number;
  height: number;
  bands: Array<ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }>;
  mask: Uint8Array | null;
}

/** Samples of a window as decoded: the data bands, then alpha when the file has one; the file's mask samples. */
interface RawRead {
  raw: ArrayLike<number>[];
  maskRaw: ArrayLike<number> | null;
  outW: number;
  outH: number;
  dataCount: number;
  /** The data bands read (0-based), in the order of raw's first dataCount planes. */
  bands: number[];
}

/** One resolution level of a GeoTIFF: the full-resolution image or an internal overview. */
interface Level {
  image: GeoTIFFImage;
  /** Internally tiled: windows are assembled from cached decoded blocks (block.cache.ts). */
  tiled: boolean;
  /** Samples 0-2 are Y, Cb, Cr: converted to RGB as read. */
  ycbcr: boolean;
  /** Sample 0 indexes this colour map: bands 0-2 are its red, green and blue, looked up as read. */
  palette: Palette | null;
  /**
   * The level's own mask (0 = no data in any sample it has): internal, or from <file>.msk /
   * <file>.msk.ovr. A level without one under a masked full resolution (a .msk without overviews,
   * an internal mask under external overviews) reads the full resolution's, sampled at its pixel
   * centres, as GDAL reads a mask band without overviews (readMask).
   */
  mask: GeoTIFFImage | null;
  width: number;
  height: number;
  transform: Affine;
}

export interface RasterSource {
  readonly path: string;
  /** Full-resolution grid. */
  readonly grid: Grid;
  readonly metadata: RasterMetadata;
  /** Number of levels (1 + overviews). */
  readonly levelCount: number;
  levelGrid(level: number): Grid;
  /** The coarsest level whose pixels are no larger than `resolution` CRS units (0 if none). */
  levelFor(resolution: number): number;
  /** Decoded pixels of a window of one level, clipped to it. outWidth/outHeight decimate (nearest). */
  readLevel(level: number, window: Window, opts?: { bands?: number[]; outWidth?: number; outHeight?: number }): Promise<PixelBlock>;
  /**
   * Like readLevel at full resolution, but the bands keep the file's sample type where that is
   * exact (integers without a nodata value): no float copy of imagery the caller wants as bytes.
   */
  readLevelSamples(level: number, window: Window): Promise<SampleBlock>;
  readWindow(window: Window, opts?: ReadWindowOptions): Promise<RasterImage>;
  readGrid(target: Grid, opts?: ReadGridOptions): Promise<RasterImage>;
  close(): Promise<void>;
}

/**
 * GDAL's per-band scale and offset (its metadata's SCALE and OFFSET items, else the .aux.xml's): a
 * CHM stored as centimetres in uint16 says scale 0.01, and its heights are the stored values x
 * 0.01. Null when every band is stored as is.
 */
async function scalingOf(image: GeoTIFFImage, sampleIndices: number[], pam: PamBand[]): Promise<Array<[number, number]> | null> {
  const internal = image.getFileDirectory().hasTag('GDAL_METADATA' as any);
  const out: Array<[number, number]> = [];
  for (const sample of sampleIndices) {
    const items = (internal ? (await image.getGDALMetadata(sample)) ?? {} : {}) as Record<string, unknown>;
    const side = pam.find((b) => b.band === sample + 1);
    const scale = Number(items.SCALE ?? side?.scale ?? 1), offset = Number(items.OFFSET ?? side?.offset ?? 0);
    out.push([Number.isFinite(scale) && scale !== 0 ? scale : 1, Number.isFinite(offset) ? offset : 0]);
  }
  return out.some(([scale, offset]) => scale !== 1 || offset !== 0) ? out : null;
}

/**
 * The nodata value an .aux.xml states for the image's bands (GDAL reads it when the file has no
 * GDAL_NODATA tag), or null. One value serves every band here, so bands stating different ones are
 * refused.
 */
function pamNodataOf(path: string, sampleIndices: number[], pam: PamBand[]): number | null {
  const stated = pam.filter((b) => b.nodata !== null && sampleIndices.includes(b.band - 1));
  if (!stated.length) return null;
  const first = stated[0].nodata!;
  const same = (v: number) => v === first || (Number.isNaN(v) && Number.isNaN(first));
  if (!stated.every((b) => same(b.nodata!))) {
    throw unreadable(path, `its .aux.xml gives its bands different nodata values (${stated.map((b) => `band ${b.band}: ${b.nodata}`).join(', ')}), which this reader cannot apply: give them one with gdal_translate -a_nodata VALUE ${basename(path)} out.tif`);
  }
  return first;
}

/** NewSubfileType's bits: a reduced-resolution version of the first image (an overview), a transparency mask. */
const FILETYPE_REDUCEDIMAGE = 1, FILETYPE_MASK = 4;

async function subfileTypeOf(img: GeoTIFFImage): Promise<number> {
  return Number(first(await tag(img, 'NewSubfileType')) ?? 0);
}

function checkDecodable(compression: number, path: string): void {
  if (decodable(compression)) return;
  throw unreadable(path, `${compressionName(compression)} compression cannot be decoded here (readable: none, LZW, JPEG, deflate, PackBits, LZMA, LERC, ZSTD, WebP): convert it with gdal_translate -co COMPRESS=DEFLATE`);
}

function checkTargetSize({ width: W, height: H }: Grid): void {
  if (!(Number.isInteger(W) && Number.isInteger(H) && W > 0 && H > 0)) throw new InvalidInputError(`target grid size must be positive integers, got ${W}x${H}`);
  if (W * H > MAX_OUTPUT_PIXELS) throw new LimitExceededError(`read of ${W}x${H} pixels exceeds the limit of ${MAX_OUTPUT_PIXELS}`);
}

function levelResolution(l: { transform: Affine }): [number, number] {
  const t = l.transform;
  return [Math.hypot(t[1], t[4]), Math.hypot(t[2], t[5])];
}

let blockCacheSerial = 0;

class GeoTiffSource implements RasterSource {
  readonly grid: Grid;
  private readonly sampleIndices: number[];
  private readonly alphaIndex: number | null;
  /** Names this file version in the shared block cache. */
  private readonly cacheKey: string;

  constructor(
    readonly path: string,
    private readonly tiff: GeoTIFF,
    private readonly levels: Level[],
    readonly metadata: RasterMetadata,
    sampleIndices: number[],
    alphaIndex: number | null,
    /** A paletted file's nodata index (its expanded bands have no nodata value, only a mask). */
    private readonly paletteNodata: number | null = null,
    /** Files besides the TIFF whose images serve here (<path>.ovr, .msk, .msk.ovr): closed with it. */
    private readonly sidecars: GeoTIFF[] = [],
  ) {
    this.grid = this.levelGrid(0);
    this.cacheKey = `${path}#${blockCacheSerial++}`;
    this.sampleIndices = sampleIndices;
    this.alphaIndex = alphaIndex;
  }

  get levelCount(): number {
    return this.levels.length;
  }

  levelGrid(level: number): Grid {
    const l = this.levels[level];
    if (!l) throw new InvalidInputError(`no level ${level} (raster has ${this.levels.length})`);
    return { width: l.width, height: l.height, transform: l.transform, crs: this.metadata.crs };
  }

  levelFor(resolution: number): number {
    let best = 0;
    for (let i = 1; i < this.levels.length; i++) {
      const [rx, ry] = levelResolution(this.levels[i]);
      if (Math.max(rx, ry) <= resolution * 1.0001) best = i;
    }
    return best;
  }

  private bandList(bands: number[] | undefined): number[] {
    const all = this.sampleIndices.map((_, i) => i);
    if (!bands) return all;
    for (const b of bands) {
      if (!Number.isInteger(b) || b < 0 || b >= all.length) throw new InvalidInputError(`band ${b} out of range (raster has ${all.length} bands, 0-based)`);
    }
    return bands;
  }

  /** A window's samples as decoded (clipped to the level), with the level's mask samples; null when empty. */
  private async readRaw(level: number, window: Window, opts: { bands?: number[]; outWidth?: number; outHeight?: number }): Promise<RawRead | null> {
    const l = this.levels[level];
    if (!l) throw new InvalidInputError(`no level ${level} (raster has ${this.levels.length})`);
    const bands = this.bandList(opts.bands);
    const x0 = Math.max(0, Math.floor(window.x)), y0 = Math.max(0, Math.floor(window.y));
    const x1 = Math.min(l.width, Math.ceil(window.x + window.width)), y1 = Math.min(l.height, Math.ceil(window.y + window.height));
    if (x1 <= x0 || y1 <= y0) return null;
    const outW = opts.outWidth ?? x1 - x0, outH = opts.outHeight ?? y1 - y0;
    if (outW * outH > MAX_OUTPUT_PIXELS) throw new LimitExceededError(`read of ${outW}x${outH} pixels exceeds the limit of ${MAX_OUTPUT_PIXELS}`);
    // every one of R, G and B needs all of Y, Cb and Cr
    const samples = l.ycbcr ? [0, 1, 2] : l.palette ? [0] : bands.map((b) => this.sampleIndices[b]);
    if (this.alphaIndex !== null) samples.push(this.alphaIndex);
    const decimate = outW !== x1 - x0 || outH !== y1 - y0;
    let raw: ArrayLike<number>[];
    let maskRaw: ArrayLike<number> | null = null;
    try {
      if (decimate) {
        raw = await decimatedRead(l.image, x0, y0, x1, y1, outW, outH, samples);
      } else {
        raw = l.tiled
          ? await readTiledWindow(l.image, `${this.cacheKey}|${level}`, x0, y0, x1, y1, samples)
          : ((await l.image.readRasters({ window: [x0, y0, x1, y1], samples, interleave: false } as any)) as unknown as ArrayLike<number>[]);
      }
      maskRaw = await this.readMask(l, x0, y0, x1, y1, outW, outH);
    } catch (err) {
      throw unreadable(this.path, 'cannot decode pixels (corrupt or truncated data)', err);
    }
    if (l.ycbcr) {
      ycbcrToRgb(raw[0], raw[1], raw[2]);
      raw = [...bands.map((b) => raw[b]), ...raw.slice(3)];
    }
    if (l.palette) {
      const index = raw[0];
      // a nodata value of a paletted file names an index: it masks those pixels whatever their colour
      if (this.paletteNodata !== null) {
        const m = new Uint8Array(index.length);
        for (let i = 0; i < m.length; i++) m[i] = index[i] === this.paletteNodata || (maskRaw && maskRaw[i] === 0) ? 0 : 255;
        maskRaw = m;
      }
      raw = [...bands.map((b) => expandPalette(index, l.palette![b])), ...raw.slice(1)];
    }
    return { raw, maskRaw, outW, outH, dataCount: bands.length, bands };
  }

  /**
   * The mask of a level's window [x0, x1) x [y0, y1) at outW x outH (nearest), 0 where any of the
   * mask's samples is 0 (a per-band mask masks a pixel missing in any band); null when unmasked.
   */
  private async readMask(l: Level, x0: number, y0: number, x1: number, y1: number, outW: number, outH: number): Promise<ArrayLike<number> | null> {
    const full = this.levels[0];
    // the level's own mask, else the full resolution's (of which it reads the level's pixel centres)
    const m = l.mask ? l : full;
    if (!m.mask) return null;
    const samples = Array.from({ length: m.mask.getSamplesPerPixel() }, (_, i) => i);
    if (m === l && outW === x1 - x0 && outH === y1 - y0) {
      const planes = (await m.mask.readRasters({ window: [x0, y0, x1, y1], samples, interleave: false } as any)) as unknown as ArrayLike<number>[];
      return allValid(planes, outW * outH);
    }
    const cols = nearestIndices(x0, x1, outW, m.width / l.width, m.width);
    const rows = nearestIndices(y0, y1, outH, m.height / l.height, m.height);
    return allValid(await sampledRead(m.mask, cols, rows, samples, MASK_SPAN_PIXELS), outW * outH);
  }

  /**
   * Zeroes in `mask` (created, all valid, on the first zero when null) every pixel the alpha band
   * or the file's mask marks as empty; returns it.
   */
  private clearMasked(r: RawRead, mask: Uint8Array | null): Uint8Array | null {
    const n = r.outW * r.outH;
    for (const m of [this.alphaIndex !== null ? r.raw[r.dataCount] : null, r.maskRaw]) {
      if (!m) continue;
      for (let i = 0; i < n; i++) if (m[i] === 0) (mask ??= new Uint8Array(n).fill(1))[i] = 0;
    }
    return mask;
  }

  async readLevelSamples(level: number, window: Window): Promise<SampleBlock> {
    const type = this.metadata.sampleType;
    // nodata values, floats and scaled values need readLevel's per-pixel pass anyway
    if (this.metadata.nodata !== null || type === 'float32' || type === 'float64' || this.metadata.bandScaling) return this.readLevel(level, window);
    const r = await this.readRaw(level, window, {});
    if (!r) return { width: 0, height: 0, bands: this.bandList(undefined).map(() => new Uint8Array(0)), mask: null };
    const { raw, outW, outH, dataCount } = r;
    // readTiledWindow and readRasters hand back arrays of their own: no copy
    return { width: outW, height: outH, bands: raw.slice(0, dataCount) as SampleBlock['bands'], mask: this.clearMasked(r, null) };
  }

  async readLevel(level: number, window: Window, opts: { bands?: number[]; outWidth?: number; outHeight?: number } = {}): Promise<PixelBlock> {
    const r = await this.readRaw(level, window, opts);
    if (!r) return { width: 0, height: 0, bands: this.bandList(opts.bands).map(() => new Float32Array(0)), mask: new Uint8Array(0) };
    const { raw, outW, outH, dataCount } = r;
    const n = outW * outH;
    const mask = new Uint8Array(n).fill(1);
    const nodata = this.metadata.nodata;
    const type = this.metadata.sampleType;
    const noValue = nodata === null ? null : type === 'float32' ? Math.fround(nodata) : nodata;
    const float = type === 'float32' || type === 'float64';
    const planes: Float32Array[] = [];
    let allNodata: Uint8Array | null = noValue !== null ? new Uint8Array(n).fill(1) : null;
    // per-band nodata for multi-band rasters (see PixelBlock.bandMasks)
    const bandMasks: Array<Uint8Array | null> = [];
    let partial = false;
    for (let b = 0; b < dataCount; b++) {
      const src = raw[b];
      const plane = new Float32Array(n);
      const bm = allNodata && dataCount > 1 ? new Uint8Array(n).fill(1) : null;
      if (!allNodata && !float) {
        plane.set(src); // integer data without nodata: a native typed-array copy
        planes.push(plane);
        bandMasks.push(null);
        continue;
      }
      for (let i = 0; i < n; i++) {
        const v = src[i];
        plane[i] = v;
        if (allNodata) {
          const isNo = v === noValue || (noValue !== noValue && v !== v);
          if (!isNo) allNodata[i] = 0;
          else if (bm) bm[i] = 0;
        }
        if (float && v !== v) mask[i] = 0;
      }
      planes.push(plane);
      bandMasks.push(bm);
    }
    if (allNodata) {
      for (let i = 0; i < n; i++) if (allNodata[i]) mask[i] = 0;
      // a pixel at nodata in some bands only: those bands skip it when resampling
      for (const bm of bandMasks) if (bm) for (let i = 0; i < n && !partial; i++) partial = !bm[i] && !allNodata[i];
    }
    const scaling = this.metadata.bandScaling;
    if (scaling) {
      for (let b = 0; b < dataCount; b++) {
        const [scale, offset] = scaling[r.bands[b]];
        if (scale === 1 && offset === 0) continue;
        const plane = planes[b];
        for (let i = 0; i < n; i++) plane[i] = plane[i] * scale + offset;
      }
    }
    this.clearMasked(r, mask);
    let anyMasked = false;
    for (let i = 0; i < n && !anyMasked; i++) anyMasked = mask[i] === 0;
    return { width: outW, height: outH, bands: planes, mask: anyMasked ? mask : null, ...(partial ? { bandMasks } : {}) };
  }

  async readWindow(window: Window, opts: ReadWindowOptions = {}): Promise<RasterImage> {
    const outWidth = opts.outWidth ?? Math.round(window.width);
    const outHeight = opts.outHeight ?? Math.round(window.height);
    if (!(outWidth > 0 && outHeight > 0 && window.width > 0 && window.height > 0)) throw new InvalidInputError('window and output sizes must be positive');
    const t = this.grid.transform;
    const sx = window.width / outWidth, sy = window.height / outHeight;
    const target: Grid = {
      width: outWidth,
      height: outHeight,
      crs: this.grid.crs,
      transform: [
        t[0] + window.x * t[1] + window.y * t[2], t[1] * sx, t[2] * sy,
        t[3] + window.x * t[4] + window.y * t[5], t[4] * sx, t[5] * sy,
      ],
    };
    return this.readOnto(target, opts.resampling ?? 'bilinear', opts.bands, opts.overview);
  }

  async readGrid(target: Grid, opts: ReadGridOptions = {}): Promise<RasterImage> {
    if (!sameCrs(target.crs, this.grid.crs)) return this.readMapped(target, opts.resampling ?? 'bilinear', opts.bands);
    return this.readOnto(target, opts.resampling ?? 'bilinear', opts.bands);
  }

  /**
   * Any target grid: in another CRS, or rotated (either grid). The level and window its footprint
   * needs, then each target pixel centre mapped into that window by the approximate transformer
   * the map tiles use (exact at a grid of nodes, interpolated between them to within 0.125 px).
   */
  private async readMapped(target: Grid, method: Resampling, bands?: number[], forcedLevel?: number): Promise<RasterImage> {
    checkTargetSize(target);
    const { width: W, height: H } = target;
    const tt = target.transform;
    const toSource = projector(target.crs, this.grid.crs);
    const at = (px: number, py: number) => toSource(tt[0] + px * tt[1] + py * tt[2], tt[3] + px * tt[4] + py * tt[5]);
    const empty = () => this.emptyImage(target, bands);
    // source CRS units per target pixel, along the target's rows and columns
    const [ox, oy] = at(0, 0), [ex, ey] = at(W, 0), [sx, sy] = at(0, H);
    const unitsX = Math.hypot(ex - ox, ey - oy) / W, unitsY = Math.hypot(sx - ox, sy - oy) / H;
    if (!(unitsX > 0 && unitsY > 0)) return empty();
    const level = forcedLevel ?? this.levelFor(Math.min(unitsX, unitsY));
    const lg = this.levelGrid(level);
    const lt = lg.transform;
    const det = lt[1] * lt[5] - lt[2] * lt[4];
    const toLevel = (x: number, y: number): [number, number] => {
      const dx = x - lt[0], dy = y - lt[3];
      return [(lt[5] * dx - lt[2] * dy) / det, (lt[1] * dy - lt[4] * dx) / det];
    };
    // the footprint in level pixels, along densified edges
    const footprint = new Bounds(0, 0, W, H).project((px, py) => toLevel(...at(px, py)), 16);
    if (footprint.isEmpty) return empty();
    const [lox, loy] = toLevel(ox, oy), [lex, ley] = toLevel(ex, ey), [lsx, lsy] = toLevel(sx, sy);
    const scaleX = Math.hypot(lex - lox, ley - loy) / W, scaleY = Math.hypot(lsx - lox, lsy - loy) / H;
    const radius = method === 'nearest' ? 1 : Math.ceil(Math.max(1, scaleX, scaleY)) + 1;
    const cx0 = Math.max(0, Math.floor(footprint.minX) - radius), cy0 = Math.max(0, Math.floor(footprint.minY) - radius);
    const cx1 = Math.min(lg.width, Math.ceil(footprint.maxX) + radius), cy1 = Math.min(lg.height, Math.ceil(footprint.maxY) + radius);
    if (cx1 <= cx0 || cy1 <= cy0) return empty();
    const { block, kx, ky } = await this.readBounded(level, { x: cx0, y: cy0, width: cx1 - cx0, height: cy1 - cy0 }, bands);
    const approx = approxTransform(W, H, (px, py) => {
      const [c, r] = toLevel(...at(px, py));
      return [(c - cx0) / kx, (r - cy0) / ky];
    });
    const mapping: PixelMapping = { width: W, height: H, scaleX: scaleX / kx, scaleY: scaleY / ky, row: approx.row };
    const out = resampleBlock(block, mapping, method);
    return { grid: target, bands: out.bands, mask: out.mask };
  }

  private async readOnto(target: Grid, method: Resampling, bands?: number[], forcedLevel?: number): Promise<RasterImage> {
    const { width: W, height: H } = target;
    const tt = target.transform;
    if (tt[2] !== 0 || tt[4] !== 0 || this.grid.transform[2] !== 0 || this.grid.transform[4] !== 0) return this.readMapped(target, method, bands, forcedLevel);
    checkTargetSize(target);
    const targetRes = Math.min(Math.abs(tt[1]), Math.abs(tt[5]));
    const level = forcedLevel ?? this.levelFor(targetRes);
    const lg = this.levelGrid(level);
    const lt = lg.transform;
    // target pixel centre (c + 0.5) -> level pixel coordinate
    const dx = tt[1] / lt[1], dy = tt[5] / lt[5];
    const ox = (tt[0] - lt[0]) / lt[1], oy = (tt[3] - lt[3]) / lt[5];
    const radius = method === 'nearest' ? 1 : Math.ceil(Math.max(1, Math.abs(dx), Math.abs(dy))) + 1;
    const xs = [ox, ox + W * dx], ys = [oy, oy + H * dy];
    const win: Window = {
      x: Math.floor(Math.min(...xs)) - radius, y: Math.floor(Math.min(...ys)) - radius,
      width: 0, height: 0,
    };
    win.width = Math.ceil(Math.max(...xs)) + radius - win.x;
    win.height = Math.ceil(Math.max(...ys)) + radius - win.y;
    const cx0 = Math.max(0, win.x), cy0 = Math.max(0, win.y);
    const cx1 = Math.min(lg.width, win.x + win.width), cy1 = Math.min(lg.height, win.y + win.height);
    if (cx1 <= cx0 || cy1 <= cy0) return this.emptyImage(target, bands);
    const { block, kx, ky } = await this.readBounded(level, { x: cx0, y: cy0, width: cx1 - cx0, height: cy1 - cy0 }, bands);
    const mapping = affineMapping(W, H, (ox - cx0) / kx, (oy - cy0) / ky, dx / kx, dy / ky);
    const out = resampleBlock(block, mapping, method);
    return { grid: target, bands: out.bands, mask: out.mask };
  }

  /**
   * A window of a level for resampling, decimated (nearest subsampling by k) when too large to
   * decode whole (no overview fits); kx, ky: window pixels per block pixel.
   */
  private async readBounded(level: number, window: Window, bands?: number[]): Promise<{ block: PixelBlock; kx: number; ky: number }> {
    const k = Math.max(1, Math.ceil(Math.sqrt((window.width * window.height) / MAX_READ_PIXELS)));
    const block = await this.readLevel(level, window, {
      bands,
      ...(k > 1 ? { outWidth: Math.ceil(window.width / k), outHeight: Math.ceil(window.height / k) } : {}),
    });
    return { block, kx: window.width / block.width, ky: window.height / block.height };
  }

  /** A target grid the raster does not reach: every pixel masked. */
  private emptyImage(target: Grid, bands?: number[]): RasterImage {
    const n = target.width * target.height;
    return { grid: target, bands: Array.from({ length: this.bandList(bands).length }, () => new Float32Array(n)), mask: new Uint8Array(n) };
  }

  async close(): Promise<void> {
    dropBlocks(`${this.cacheKey}|`);
    await this.tiff.close();
    await Promise.all(this.sidecars.map((t) => t.close()));
  }
}

/**
 * Why a file geotiff.js would not open is not a TIFF, and how to convert it, under the name the
 * user knows it by (an upload's spool file has another); null when it does begin as a TIFF (the
 * decoder's own reason then says more). geotiff.js says "Invalid byte order value." of a JPEG 2000
 * orthophoto.
 */
export function notTiffReason(path: string, name: string): string | null {
  const head = leadingBytes(path);
  return head && !hasTiffHeader(head) ? notTiffAdvice(head, name) : null;
}

/** The file's first bytes, or null when it cannot be read (missing, a folder). */
function leadingBytes(path: string): Uint8Array | null {
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    const head = new Uint8Array(SNIFF_BYTES);
    return head.subarray(0, readSync(fd, head, 0, SNIFF_BYTES, 0));
  } catch {
    return null;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

async function open(path: string, fileSize: number): Promise<RasterSource> {
  let tiff: GeoTIFF;
  try {
    tiff = await fromFile(path);
  } catch (err) {
    const why = notTiffReason(path, basename(path));
    if (why) throw new UnreadableRasterError(`${basename(path)}: not a TIFF file: ${why}`, { reason: 'not a TIFF file' });
    throw unreadable(path, 'not a TIFF file', err);
  }
  try {
    return await describe(path, tiff, fileSize);
  } catch (err) {
    await Promise.resolve(tiff.close()).catch(() => undefined);
    if (err instanceof UnreadableRasterError) throw err;
    throw unreadable(path, 'corrupt TIFF', err);
  }
}

async function describe(path: string, tiff: GeoTIFF, fileSize: number): Promise<RasterSource> {
  const count = await tiff.getImageCount();
  if (count < 1) throw unreadable(path, 'the TIFF holds no image');
  const main = await tiff.getImage(0);
  const width = main.getWidth(), height = main.getHeight();
  if (!(width > 0 && height > 0) || width > MAX_SIDE || height > MAX_SIDE || width * height > MAX_PIXELS) {
    throw unreadable(path, `absurd dimensions ${width}x${height}`);
  }
  const spp = main.getSamplesPerPixel();
  if (!(spp >= 1 && spp <= 256)) throw unreadable(path, `absurd samples per pixel ${spp}`);
  const formats = (await tag<ArrayLike<number>>(main, 'SampleFormat')) ?? [1];
  const bits = (await tag<ArrayLike<number>>(main, 'BitsPerSample')) ?? [1];
  const sampleType = sampleTypeOf(Number(formats[0] ?? 1), Number(bits[0]));
  if (!sampleType) throw unreadable(path, `unsupported sample type (format ${formats[0]}, ${bits[0]} bits)`);
  for (let i = 1; i < spp; i++) {
    if (Number(bits[i] ?? bits[0]) !== Number(bits[0]) || Number(formats[i] ?? formats[0]) !== Number(formats[0])) {
      throw unreadable(path, 'bands with different sample types are not supported');
    }
  }
  const extra = (await tag<ArrayLike<number>>(main, 'ExtraSamples')) ?? [];
  let alphaIndex: number | null = null;
  for (let i = 0; i < extra.length; i++) {
    const v = Number(extra[i]);
    if (v === 1 || v === 2) alphaIndex = spp - extra.length + i;
  }
  const sampleIndices = Array.from({ length: spp }, (_, i) => i).filter((i) => i !== alphaIndex);
  const compression = Number(first(await tag(main, 'Compression')) ?? 1);
  checkDecodable(compression, path);
  const photometric = photometricOf(first(await tag(main, 'PhotometricInterpretation')), spp);
  const ycbcrOf = async (img: GeoTIFFImage) => {
    if (photometricOf(first(await tag(img, 'PhotometricInterpretation')), spp) !== 'ycbcr') return false;
    if (sampleIndices.length !== 3 || sampleType !== 'uint8') throw unreadable(path, `YCbCr imagery must have three 8-bit samples (this one: ${sampleIndices.length} ${sampleType})`);
    // libjpeg upsamples the chroma and converts to RGB itself (native.jpeg.ts), as in GDAL's reads
    if (Number(first(await tag(img, 'Compression')) ?? 1) === 7) return false;
    // other codecs would hand back the packed subsampled units
    const sub = (await tag<ArrayLike<number>>(img, 'YCbCrSubSampling')) ?? [2, 2];
    if (Number(sub[0]) !== 1 || Number(sub[1]) !== 1) {
      throw unreadable(path, `YCbCr with subsampled chroma (${sub[0]}x${sub[1]}) is only read from JPEG-compressed files: convert it with gdal_translate -co PHOTOMETRIC=RGB`);
    }
    return true;
  };
  const paletteOfImage = async (img: GeoTIFFImage): Promise<Palette | null> => {
    if (photometricOf(first(await tag(img, 'PhotometricInterpretation')), spp) !== 'palette') return null;
    if (sampleIndices.length !== 1 || (sampleType !== 'uint8' && sampleType !== 'uint16')) throw unreadable(path, `a paletted image must have one 8- or 16-bit band of indices (this one: ${sampleIndices.length} ${sampleType})`);
    const map = await tag<ArrayLike<number>>(img, 'ColorMap');
    if (!map) throw unreadable(path, 'a paletted image without a colour map (ColorMap tag)');
    try {
      return paletteOf(map, Number(bits[0]));
    } catch (err) {
      throw unreadable(path, 'bad colour map', err);
    }
  };
  const palette = await paletteOfImage(main);
  // indices have no scale: the colours are what the file means
  const pam = pamBandsOf(path);
  const bandScaling = palette ? null : await scalingOf(main, sampleIndices, pam);
  const keys = main.getGeoKeys() as Record<string, unknown> | null;
  const { crs, transform, georeferencing } = await georeferencingOf(path, main, keys);
  await checkNotTruncated(main, fileSize, path);

  const isTiled = (img: GeoTIFFImage) => img.getFileDirectory().hasTag('TileWidth' as any);
  const levels: Level[] = [{ image: main, tiled: isTiled(main), ycbcr: await ycbcrOf(main), palette, mask: null, width, height, transform }];
  const masks: GeoTIFFImage[] = [];
  /** An overview image as a level, or null when it cannot serve as one (other size or bands, a codec we lack). */
  const overviewLevel = async (img: GeoTIFFImage, inFileOfSize: number): Promise<Level | null> => {
    const w = img.getWidth(), h = img.getHeight();
    if (!(w > 0 && h > 0 && w <= width && h <= height)) return null;
    if (img.getSamplesPerPixel() !== spp) return null;
    // an overview no codec here reads: the full resolution still serves its zooms
    if (!decodable(Number(first(await tag(img, 'Compression')) ?? 1))) return null;
    await checkNotTruncated(img, inFileOfSize, path);
    const sx = width / w, sy = height / h;
    // an overview of a paletted image is one too (GDAL keeps the colour map); one that is not is not read
    const overviewPalette = palette ? await paletteOfImage(img).catch(() => null) : null;
    if (Boolean(palette) !== Boolean(overviewPalette)) return null;
    return { image: img, tiled: isTiled(img), ycbcr: await ycbcrOf(img), palette: overviewPalette, mask: null, width: w, height: h, transform: [transform[0], transform[1] * sx, transform[2] * sy, transform[3], transform[4] * sx, transform[5] * sy] };
  };
  for (let i = 1; i < count; i++) {
    const img = await tiff.getImage(i);
    const subfile = await subfileTypeOf(img);
    if (subfile & FILETYPE_MASK) { masks.push(img); continue; }
    if (!(subfile & FILETYPE_REDUCEDIMAGE)) continue; // another page, not an overview
    const level = await overviewLevel(img, fileSize);
    if (level) levels.push(level);
  }
  await assignMasks(masks, levels, fileSize, path);

  const bounds = Bounds.fromGrid(transform, width, height);
  const wgs = bounds.project(projector(crs, WGS84));
  if (wgs.isEmpty || ![wgs.minX, wgs.minY, wgs.maxX, wgs.maxY].every(Number.isFinite)) {
    throw unreadable(path, `bounds cannot be placed on the globe in EPSG:${crs.epsg}`);
  }
  const resolution = levelResolution(levels[0]);
  // at the centre, a degree of longitude and a Mercator unit (either way) are cos(latitude) ground
  // metres long; a degree of latitude is not shortened
  const cosLat = Math.cos((((wgs.minY + wgs.maxY) / 2) * Math.PI) / 180);
  const m = metresPerUnit(crs);
  const gsdX = resolution[0] * m * (crs.units === 'degree' || isMercator(crs) ? cosLat : 1);
  const gsdY = resolution[1] * m * (isMercator(crs) ? cosLat : 1);
  const gsd = (gsdX + gsdY) / 2;
  // external overviews (<file>.ovr: gdaladdo -ro, QGIS's default pyramids) when the file has none,
  // as GDAL uses them; opened last, once nothing else can refuse the file
  let ovrTiff: GeoTIFF | null = null;
  if (levels.length === 1 && existsSync(`${path}.ovr`)) {
    try {
      ovrTiff = await fromFile(`${path}.ovr`);
      const ovrSize = statSync(`${path}.ovr`).size;
      const ovrMasks: GeoTIFFImage[] = [];
      for (let i = 0; i < await ovrTiff.getImageCount(); i++) {
        const img = await ovrTiff.getImage(i);
        // an .ovr's overviews are its pages, whatever their subfile type says
        if ((await subfileTypeOf(img)) & FILETYPE_MASK) { ovrMasks.push(img); continue; }
        const level = await overviewLevel(img, ovrSize);
        if (level) levels.push(level);
      }
      await assignMasks(ovrMasks, levels, ovrSize, `${path}.ovr`);
    } catch (err) {
      // a broken .ovr leaves the image itself readable, at full resolution only
      console.warn(`[raster] ${basename(path)}.ovr not used: ${err instanceof Error ? err.message : String(err)}`);
      levels.splice(1);
      await Promise.resolve(ovrTiff?.close()).catch(() => undefined);
      ovrTiff = null;
    }
    if (ovrTiff && levels.length === 1) {
      await Promise.resolve(ovrTiff.close()).catch(() => undefined);
      ovrTiff = null;
    }
  }
  const sidecars = ovrTiff ? [ovrTiff] : [];
  const internalMask = levels[0].mask !== null;
  try {
    if (!internalMask) sidecars.push(...await externalMasks(path, levels));
  } catch (err) {
    await Promise.all(sidecars.map((t) => Promise.resolve(t.close()).catch(() => undefined)));
    throw err;
  }
  // finest first; the full resolution stays levels[0], as it was pushed first
  levels.sort((a, b) => b.width - a.width);
  const fd = main.getFileDirectory();
  const tiled = fd.hasTag('TileWidth' as any);
  const nodataValue = main.getGDALNoData();
  const tagged = nodataValue === null || Number.isNaN(nodataValue) && !/nan/i.test(String(fd.getValue('GDAL_NODATA' as any))) ? null : nodataValue;
  // the file's own tag first, as GDAL reads it; a paletted file's nodata names an index of its one band
  const nodata = tagged ?? pamNodataOf(path, palette ? [0] : sampleIndices, pam);
  const metadata: RasterMetadata = {
    crs,
    bounds: bounds.toArray(),
    wgs84Bounds: wgs.toArray(),
    width,
    height,
    transform,
    resolution,
    gsd,
    bandCount: palette ? 3 : sampleIndices.length,
    sampleType: palette ? 'uint8' : sampleType,
    nodata: palette ? null : nodata,
    overviews: levels.slice(1).map((l): RasterLevelInfo => ({ width: l.width, height: l.height, resolution: levelResolution(l) })),
    layout: tiled ? 'tiled' : 'stripped',
    blockSize: [main.getTileWidth(), main.getTileHeight()],
    planarConfig: Number(first(await tag(main, 'PlanarConfiguration')) ?? 1) === 2 ? 'planar' : 'chunky',
    compression: compressionName(compression),
    photometric,
    bandScaling,
    hasAlpha: alphaIndex !== null,
    hasMask: levels[0].mask !== null,
    fileSize,
    georeferencing,
    externalOverviews: ovrTiff !== null,
    externalMask: !internalMask && levels[0].mask !== null,
  };
  // a paletted image reads as its three colours, all from the one sample of indices
  return new GeoTiffSource(path, tiff, levels, metadata, palette ? [0, 0, 0] : sampleIndices, alphaIndex, palette ? nodata : null, sidecars);
}

/** LRU of opening promises keyed by path + size + mtime: a replaced file opens afresh. */
const MAX_OPEN = 64;
const cache = new Map<string, Promise<RasterSource>>();

export async function openRaster(path: string): Promise<RasterSource> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new UnreadableRasterError(`${basename(path)}: no such file`, { reason: 'missing' });
  }
  if (!info.isFile()) throw new UnreadableRasterError(`${basename(path)}: not a file`, { reason: 'not-a-file' });
  // a world file, .prj or .ovr made or edited beside the TIFF changes what it opens as
  const key = `${path}\0${info.size}\0${info.mtimeMs}\0${sidecarVersion(path)}${overviewVersion(path)}`;
  let pending = cache.get(key);
  if (pending) {
    cache.delete(key);
    cache.set(key, pending);
    return pending;
  }
  for (const k of cache.keys()) if (k.startsWith(`${path}\0`)) evictKey(k);
  pending = open(path, info.size);
  cache.set(key, pending);
  pending.catch(() => {
    if (cache.get(key) === pending) cache.delete(key);
  });
  while (cache.size > MAX_OPEN) evictKey(cache.keys().next().value!);
  return pending;
}

function evictKey(key: string): void {
  const p = cache.get(key);
  cache.delete(key);
  // close after a grace period so reads in flight on the old handle can finish
  p?.then((s) => setTimeout(() => void s.close().catch(() => undefined), 30_000).unref(), () => undefined);
}

/** Forget any open handle on this path (after the file was replaced or removed). */
export function evictRaster(path: string): void {
  for (const k of [...cache.keys()]) if (k.startsWith(`${path}\0`)) evictKey(k);
}

/** Which GeoTIFF sample types the reader accepts. */
export const SUPPORTED_SAMPLE_TYPES: SampleType[] = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'float64'];
