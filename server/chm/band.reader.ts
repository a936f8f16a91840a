/**
 * Reads model windows from the model-GSD grid, decoding (and, when the source's GSD differs,
 * resampling) each strip of rows once. Model windows overlap (256 px at stride 192) and do not line
 * up with a COG's 256 px tiles, so reading per window decodes every internal tile about three
 * times over, and decoding/resampling is the engine's largest main-thread cost (geotiff.js inflates
 * in JavaScript). Here each strip of `stripRows` rows is produced once, in column chunks, and kept
 * (uint8 when the pixels are uint8) while the next tile rows may still need it: at most `keep`
 * strips, so memory is bounded by the raster's width, not its area.
 */
import type { Grid, Window } from '../raster/types.ts';
import type { ChmSource } from './engine.ts';
import { windowGrid } from './model.grid.ts';

type ChunkPlane = ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> };

/** Produces the pixels of a window lying inside the grid (bands as numbers of any array type, mask or null = all valid). */
export type ChunkReader = (window: Window) => Promise<{ bands: ChunkPlane[]; mask: Uint8Array | null }>;

/** Chunks decoded from the source's own grid (no resampling), in the file's sample type where it has one. */
export function directChunks(source: Pick<ChmSource, 'readLevel' | 'readLevelSamples'>): ChunkReader {
  if (source.readLevelSamples) return (w) => source.readLevelSamples!(0, w);
  if (!source.readLevel) throw new Error('internal: directChunks needs a source that reads levels');
  return (w) => source.readLevel!(0, w);
}

/** Chunks of `grid` (the model grid) resampled from the source (bilinear). */
export function resampledChunks(source: ChmSource, grid: Grid): ChunkReader {
  return (w) => source.readGrid(windowGrid(grid, w), { resampling: 'bilinear' });
}

export type Plane = Uint8Array | Float32Array;

/** A window's pixels: planes of the strips' type (bytes for uint8 imagery), mask 1 = valid, null = all valid. */
export interface BandWindow {
  grid: Grid;
  bands: Plane[];
  mask: Uint8Array | null;
}

interface Strip {
  rows: number;
  bands: Plane[];
  /** Null: every pixel valid. */
  mask: Uint8Array | null;
}

export interface BandReaderOptions {
  /** Rows per cached strip: the file's internal tile height (default 256). */
  stripRows?: number;
  /** Strips kept (default 4: the in-flight batches span at most a few tile rows). */
  keep?: number;
  /** Columns decoded per read (bounds the transient float32 block). */
  chunkColumns?: number;
  /** Data bands to keep (default 3: R, G, B). */
  bands?: number;
}

export class BandReader {
  private readonly strips = new Map<number, Promise<Strip>>();
  private readonly stripRows: number;
  private readonly keep: number;
  private readonly chunk: number;
  private readonly nb: number;
  private readonly uint8: boolean;
  /** Strips decoded so far (tests: each is decoded once). */
  decoded = 0;

  /**
   * `grid`: the grid windows are given in. `uint8`: the chunks hold whole numbers 0..255, so strips
   * can be kept in a quarter of the memory.
   */
  constructor(private readonly grid: Grid, private readonly readChunk: ChunkReader, uint8: boolean, opts: BandReaderOptions = {}) {
    this.stripRows = opts.stripRows ?? 256;
    this.keep = opts.keep ?? 4;
    this.chunk = opts.chunkColumns ?? 4096;
    this.nb = opts.bands ?? 3;
    this.uint8 = uint8;
  }

  /** Whether planes come out as bytes (the source holds whole numbers 0..255). */
  get bytes(): boolean {
    return this.uint8;
  }

  /**
   * Pixels of `region` (source grid, may extend past the raster: padded as nodata), as Uint8Array
   * planes for byte imagery (so the model input can be built by table lookup), else Float32Array.
   * `into`: the planes to fill (one per band, of the reader's type and the region's size; their
   * contents may be stale), e.g. the model's shared input memory, which saves a copy per batch.
   */
  async read(region: Window, into?: Plane[]): Promise<BandWindow> {
    const { width: W, height: H } = this.grid;
    const n = region.width * region.height;
    if (into && !(into.length === this.nb && into.every((p) => p.length === n && (this.uint8 ? p instanceof Uint8Array : p instanceof Float32Array)))) {
      throw new Error(`internal: ${into.length} planes to read ${this.nb} bands of ${n} ${this.uint8 ? 'bytes' : 'values'} into`);
    }
    const bands: Plane[] = into ?? Array.from({ length: this.nb }, () => (this.uint8 ? new Uint8Array(n) : new Float32Array(n)));
    const x0 = Math.max(0, region.x), x1 = Math.min(W, region.x + region.width);
    const y0 = Math.max(0, region.y), y1 = Math.min(H, region.y + region.height);
    const inside = x0 === region.x && y0 === region.y && x1 === region.x + region.width && y1 === region.y + region.height;
    // pixels past the raster stay 0, as in fresh planes
    if (into && !inside) for (const p of into) p.fill(0);
    // built only when some pixel is invalid: outside the raster or masked in the file
    let mask: Uint8Array | null = inside ? null : new Uint8Array(n);
    if (x1 > x0 && y1 > y0) {
      const S = this.stripRows;
      for (let j = Math.floor(y0 / S); j * S < y1; j++) {
        const strip = await this.strip(j);
        const r0 = Math.max(y0, j * S), r1 = Math.min(y1, j * S + strip.rows);
        if (strip.mask && !mask) {
          // the first masked strip: the rows copied before it were all valid
          mask = new Uint8Array(n);
          mask.fill(1, 0, (r0 - region.y) * region.width);
        }
        for (let y = r0; y < r1; y++) {
          const src = (y - j * S) * W;
          const dst = (y - region.y) * region.width + (x0 - region.x);
          for (let b = 0; b < this.nb; b++) {
            const plane = strip.bands[b];
            const out = bands[b];
            out.set(plane.subarray(src + x0, src + x1), dst);
          }
          if (!mask) continue;
          if (strip.mask) mask.set(strip.mask.subarray(src + x0, src + x1), dst);
          else mask.fill(1, dst, dst + (x1 - x0));
        }
      }
    }
    return { grid: windowGrid(this.grid, region), bands, mask };
  }

  private strip(j: number): Promise<Strip> {
    let p = this.strips.get(j);
    if (!p) {
      p = this.decode(j);
      this.strips.set(j, p);
      p.catch(() => this.strips.delete(j));
      while (this.strips.size > this.keep) this.strips.delete(Math.min(...this.strips.keys()));
    }
    return p;
  }

  private async decode(j: number): Promise<Strip> {
    const { width: W, height: H } = this.grid;
    const y = j * this.stripRows;
    const rows = Math.min(this.stripRows, H - y);
    const make = () => (this.uint8 ? new Uint8Array(W * rows) : new Float32Array(W * rows));
    let bands: Plane[] | null = null;
    let mask: Uint8Array | null = null;
    for (let x = 0; x < W; x += this.chunk) {
      const cw = Math.min(this.chunk, W - x);
      const block = await this.readChunk({ x, y, width: cw, height: rows });
      if (block.bands.length < this.nb) throw new Error(`expected ${this.nb} bands, the raster has ${block.bands.length}`);
      if (cw === W && !bands) {
        // the whole strip in one chunk, already in the strip's type: keep its planes as they are
        const own = block.bands.slice(0, this.nb);
        if (own.every((p) => (this.uint8 ? p instanceof Uint8Array : p instanceof Float32Array) && p.length === W * rows)) {
          this.decoded++;
          return { rows, bands: own as Plane[], mask: block.mask };
        }
      }
      bands ??= Array.from({ length: this.nb }, make);
      if (block.mask && !mask) mask = new Uint8Array(W * rows).fill(1);
      for (let r = 0; r < rows; r++) {
        for (let b = 0; b < this.nb; b++) bands[b].set(block.bands[b].subarray(r * cw, (r + 1) * cw), r * W + x);
        if (block.mask) mask!.set(block.mask.subarray(r * cw, (r + 1) * cw), r * W + x);
      }
    }
    this.decoded++;
    return { rows, bands: bands ?? Array.from({ length: this.nb }, make), mask };
  }
}
