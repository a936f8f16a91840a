/**
 * Immutable axis-aligned bounds in some CRS's units (as linz/basemaps' Bounds). Every operation
 * returns a new value; nothing here knows which CRS the numbers are in.
 */
import type { Affine } from '../server/raster/types.ts';
import type { Projector } from './projection.ts';

export interface BoundsLike {
  readonly minX: number;
  readonly minY: number;
  readonly maxX: number;
  readonly maxY: number;
}

export class Bounds implements BoundsLike {
  constructor(readonly minX: number, readonly minY: number, readonly maxX: number, readonly maxY: number) {}

  static from(b: BoundsLike): Bounds {
    return b instanceof Bounds ? b : new Bounds(b.minX, b.minY, b.maxX, b.maxY);
  }

  /** [minX, minY, maxX, maxY], the order TileJSON and GeoJSON bbox use. */
  static fromArray(a: readonly number[]): Bounds {
    return new Bounds(a[0], a[1], a[2], a[3]);
  }

  /** The smallest bounds holding all the points. */
  static fromPoints(points: ReadonlyArray<readonly [number, number]>): Bounds {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (const [x, y] of points) {
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    return new Bounds(minX, minY, maxX, maxY);
  }

  /** The footprint of a width x height pixel grid under an affine transform (rotation allowed). */
  static fromGrid(transform: Affine, width: number, height: number): Bounds {
    const corners: Array<[number, number]> = [[0, 0], [width, 0], [0, height], [width, height]].map(([c, r]) => [
      transform[0] + c * transform[1] + r * transform[2],
      transform[3] + c * transform[4] + r * transform[5],
    ]);
    return Bounds.fromPoints(corners);
  }

  get width(): number { return this.maxX - this.minX; }
  get height(): number { return this.maxY - this.minY; }
  get center(): [number, number] { return [(this.minX + this.maxX) / 2, (this.minY + this.maxY) / 2]; }
  get isEmpty(): boolean { return !(this.maxX > this.minX && this.maxY > this.minY); }

  toArray(): [number, number, number, number] { return [this.minX, this.minY, this.maxX, this.maxY]; }
  toJSON(): [number, number, number, number] { return this.toArray(); }

  intersects(o: BoundsLike): boolean {
    return this.minX < o.maxX && o.minX < this.maxX && this.minY < o.maxY && o.minY < this.maxY;
  }

  containsPoint(x: number, y: number): boolean {
    return x >= this.minX && x <= this.maxX && y >= this.minY && y <= this.maxY;
  }

  /** The overlap, or null when the bounds do not overlap. */
  intersection(o: BoundsLike): Bounds | null {
    const b = new Bounds(Math.max(this.minX, o.minX), Math.max(this.minY, o.minY), Math.min(this.maxX, o.maxX), Math.min(this.maxY, o.maxY));
    return b.isEmpty ? null : b;
  }

  union(o: BoundsLike): Bounds {
    return new Bounds(Math.min(this.minX, o.minX), Math.min(this.minY, o.minY), Math.max(this.maxX, o.maxX), Math.max(this.maxY, o.maxY));
  }

  /** Grown by d units on every side (negative shrinks). */
  pad(d: number): Bounds {
    return new Bounds(this.minX - d, this.minY - d, this.maxX + d, this.maxY + d);
  }

  /**
   * The bounds of this box in another CRS: the edges are densified (a straight edge is curved in
   * the target), so the result holds the whole projected footprint.
   */
  project(fn: Projector, densify = 21): Bounds {
    const pts: Array<[number, number]> = [];
    for (let i = 0; i <= densify; i++) {
      const t = i / densify;
      const x = this.minX + t * this.width;
      const y = this.minY + t * this.height;
      pts.push(fn(x, this.minY), fn(x, this.maxY), fn(this.minX, y), fn(this.maxX, y));
    }
    return Bounds.fromPoints(pts.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  }

  equals(o: BoundsLike, eps = 0): boolean {
    return Math.abs(this.minX - o.minX) <= eps && Math.abs(this.minY - o.minY) <= eps
      && Math.abs(this.maxX - o.maxX) <= eps && Math.abs(this.maxY - o.maxY) <= eps;
  }
}
