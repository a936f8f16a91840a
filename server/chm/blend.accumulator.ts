import { finalRowsAfterTileRow, type ModelWindow, type WindowPlan } from '../../tiles/windows.ts';
import type { Window } from '../raster/types.ts';

/**
 * Streaming blend of overlapping model predictions into horizontal strips.
 *
 * Only rows that an unfinished tile row can still touch are held: about tileSize + stripHeight
 * rows of the raster's width, whatever its height, provided finished strips are taken as they
 * become available (the engine drains after every add). A strip is ready as soon as every window
 * covering it has been added: windows may arrive in any order within a tile row, and rows complete
 * in order. The blend normaliser is separable (tiles/windows.ts), so only the weighted value sum
 * and a validity byte are accumulated per pixel.
 */
export interface Strip {
  /** First raster row (model grid) of the strip. */
  y: number;
  height: number;
  /** First raster column of the strip (0 unless the accumulator crops). */
  x: number;
  width: number;
  /**
   * Row-major, width * height blended values; `nodata` where no window saw valid input. A view of
   * the accumulator's output buffer, overwritten by the next takeStrip: copy what you keep.
   */
  values: Float32Array;
}

export class BlendAccumulator {
  readonly stripHeight: number;
  private sum: Float32Array;
  /** 1 where some added window saw valid input. */
  private valid: Uint8Array;
  private capacity: number;
  /** Raster row held at buffer row 0 (= the next strip's first row). */
  private base = 0;
  /** Rows [0, finalRows) have received every window. */
  private finalRows = 0;
  private readonly pendingPerRow: number[];
  private readonly added: Uint8Array;
  private completedTileRows = 0;
  /** The strips' values, one buffer for all (a strip is raster-wide: fresh ones kept the collector busy). */
  private out = new Float32Array(0);
  /** Blend weight of each window pixel (row-major tileSize^2): the separable profile's products, computed once. */
  private readonly weights: Float64Array;

  /** The pixels strips hold: the whole raster unless the constructor was given a crop. */
  private readonly crop: Window;

  /**
   * `crop`: only these pixels are wanted (a CHM block inside its context window): strips hold just
   * their part of it, and the rest, still blended, is never normalised or copied.
   */
  constructor(readonly plan: WindowPlan, stripHeight: number, readonly nodata: number, crop?: Window) {
    if (!(Number.isInteger(stripHeight) && stripHeight > 0)) throw new RangeError(`stripHeight must be a positive integer, got ${stripHeight}`);
    this.crop = crop ?? { x: 0, y: 0, width: plan.width, height: plan.height };
    const c = this.crop;
    if (!(c.x >= 0 && c.y >= 0 && c.width > 0 && c.height > 0 && c.x + c.width <= plan.width && c.y + c.height <= plan.height && [c.x, c.y, c.width, c.height].every(Number.isInteger))) {
      throw new RangeError(`crop ${JSON.stringify(c)} is not a window of the ${plan.width} x ${plan.height} plan`);
    }
    this.stripHeight = stripHeight;
    this.capacity = Math.min(plan.height, plan.tiling.tileSize + stripHeight);
    this.sum = new Float32Array(plan.width * this.capacity);
    this.valid = new Uint8Array(plan.width * this.capacity);
    this.pendingPerRow = plan.ys.map(() => plan.xs.length);
    this.added = new Uint8Array(plan.windows.length);
    const size = plan.tiling.tileSize, profile = plan.profile;
    this.weights = new Float64Array(size * size);
    for (let ty = 0; ty < size; ty++) for (let tx = 0; tx < size; tx++) this.weights[ty * size + tx] = profile[ty] * profile[tx];
  }

  /** Bytes held by the accumulator's buffers. */
  get bytes(): number {
    return this.sum.byteLength + this.valid.byteLength;
  }

  /**
   * Add one window's prediction: tileSize x tileSize row-major values starting at `offset` (a view
   * into a batch output, no copy). `mask` (same layout, at `maskOffset`; 1 = valid input) marks
   * nodata input; null means all valid. Pass prediction null for a window that was skipped
   * because all its input was nodata.
   */
  add(win: ModelWindow, prediction: Float32Array | null, offset = 0, mask: Uint8Array | null = null, maskOffset = 0): void {
    const { plan } = this;
    const size = plan.tiling.tileSize;
    if (this.added[win.index]) throw new Error(`window ${win.index} added twice`);
    this.added[win.index] = 1;
    if (win.y < this.base) throw new Error(`window ${win.index} arrived after its rows were emitted`);
    if (prediction) {
      const yEnd = Math.min(plan.height, win.y + size);
      const xEnd = Math.min(plan.width, win.x + size);
      this.ensureRows(yEnd);
      const cols = xEnd - win.x;
      const weights = this.weights;
      const sum = this.sum;
      const valid = this.valid;
      for (let y = win.y; y < yEnd; y++) {
        const ty = y - win.y;
        const row = (y - this.base) * plan.width + win.x;
        const src = offset + ty * size;
        const w = ty * size;
        for (let tx = 0; tx < cols; tx++) sum[row + tx] += weights[w + tx] * prediction[src + tx];
        if (mask) {
          const msrc = maskOffset + ty * size;
          for (let tx = 0; tx < cols; tx++) valid[row + tx] |= mask[msrc + tx];
        } else {
          valid.fill(1, row, row + cols);
        }
      }
    }
    this.pendingPerRow[win.row]--;
    while (this.completedTileRows < plan.ys.length && this.pendingPerRow[this.completedTileRows] === 0) {
      this.finalRows = finalRowsAfterTileRow(plan, this.completedTileRows);
      this.completedTileRows++;
    }
  }

  /**
   * The next finished strip, or null when the rows it needs are not final yet. With a crop, a
   * strip holds the crop's part of the next stripHeight rows, and may have none (height 0).
   */
  takeStrip(): Strip | null {
    const { plan, crop } = this;
    const y = this.base;
    if (y >= plan.height) return null;
    const height = Math.min(this.stripHeight, plan.height - y);
    if (this.finalRows < y + height) return null;
    const y0 = Math.max(y, crop.y), y1 = Math.min(y + height, crop.y + crop.height);
    const rows = Math.max(0, y1 - y0), width = crop.width, x0 = crop.x;
    if (this.out.length < width * rows) this.out = new Float32Array(width * this.stripHeight);
    const values = this.out.subarray(0, width * rows);
    const { sum, valid, nodata } = this;
    const wx = plan.weightX;
    for (let r = 0; r < rows; r++) {
      const wy = plan.weightY[y0 + r];
      const o = r * width, held = (y0 - y + r) * plan.width + x0;
      // two stores, not a conditional expression: a phi of the quotient and the (small integer)
      // nodata made V8 box every quotient, a heap number per pixel (16 bytes of garbage each)
      for (let x = 0; x < width; x++) {
        if (valid[held + x]) values[o + x] = sum[held + x] / (wy * wx[x0 + x]);
        else values[o + x] = nodata;
      }
    }
    this.release(height);
    return { y: rows ? y0 : y, height: rows, x: x0, width, values };
  }

  /** True once every strip has been taken. */
  get done(): boolean {
    return this.base >= this.plan.height;
  }

  /** Grow the held rows when a window reaches past them (the engine drained too late). */
  private ensureRows(yEnd: number): void {
    const need = yEnd - this.base;
    if (need <= this.capacity) return;
    const sum = new Float32Array(this.plan.width * need);
    sum.set(this.sum);
    const valid = new Uint8Array(this.plan.width * need);
    valid.set(this.valid);
    this.sum = sum;
    this.valid = valid;
    this.capacity = need;
  }

  /** Drop the first `rows` held rows, shifting the rest to the buffer's start. */
  private release(rows: number): void {
    const n = rows * this.plan.width;
    this.sum.copyWithin(0, n);
    this.sum.fill(0, this.sum.length - n);
    this.valid.copyWithin(0, n);
    this.valid.fill(0, this.valid.length - n);
    this.base += rows;
  }
}
