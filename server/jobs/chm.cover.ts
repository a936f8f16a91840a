/**
 * Where a job computes canopy height: the union of its trees tiles' read windows (core plus halo),
 * as disjoint rectangles of the model grid. A compact region's union is nearly its bounding box,
 * and one rectangle wastes least (each rectangle recomputes the model windows along its edges). A
 * region of scattered parts (a farm's stands as one MultiPolygon) or a thin one would make its
 * bounding box cost many times its own area, so each group of touching tiles gets its own cover,
 * split into rectangles where its box would be more than `maxWaste` times the area it needs.
 */
import type { Window } from '../raster/types.ts';

/** A trees tile: its cell of the tile lattice and the CHM window it reads. */
export interface LatticeTile {
  tx: number;
  ty: number;
  read: Window;
}

export const DEFAULT_MAX_WASTE = 2;

/** Disjoint rectangles covering every tile's read window, in row-major order of their first tile. */
export function chmCover(tiles: readonly LatticeTile[], maxWaste = DEFAULT_MAX_WASTE): Window[] {
  const out: Window[] = [];
  for (const group of touchingGroups(tiles)) {
    const reads = group.map((i) => tiles[i].read);
    const box = boundsOf(reads);
    const cells = CellCover.of(reads);
    if (area(box) <= maxWaste * cells.area()) out.push(box);
    else out.push(...cells.rectangles());
  }
  return out;
}

/** Pixels of the union of `windows` (the tiles' reads overlap by their halos). */
export function unionArea(windows: readonly Window[]): number {
  return windows.length ? CellCover.of(windows).area() : 0;
}

function area(w: Window): number {
  return w.width * w.height;
}

function boundsOf(ws: readonly Window[]): Window {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const w of ws) {
    x0 = Math.min(x0, w.x); y0 = Math.min(y0, w.y);
    x1 = Math.max(x1, w.x + w.width); y1 = Math.max(y1, w.y + w.height);
  }
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/**
 * Groups of tiles joined through the 8 neighbours of their lattice cells (neighbouring tiles'
 * reads overlap or touch), each listed in input order; groups in order of their first tile.
 */
function touchingGroups(tiles: readonly LatticeTile[]): number[][] {
  const at = new Map<string, number>();
  tiles.forEach((t, i) => at.set(`${t.tx},${t.ty}`, i));
  const group = new Int32Array(tiles.length).fill(-1);
  const groups: number[][] = [];
  for (let start = 0; start < tiles.length; start++) {
    if (group[start] >= 0) continue;
    const members: number[] = [];
    group[start] = groups.length;
    const stack = [start];
    while (stack.length) {
      const i = stack.pop()!;
      members.push(i);
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const j = at.get(`${tiles[i].tx + dx},${tiles[i].ty + dy}`);
        if (j !== undefined && group[j] < 0) { group[j] = groups.length; stack.push(j); }
      }
    }
    groups.push(members.sort((a, b) => a - b));
  }
  return groups;
}

/** The union of windows on the grid of their own edges: a cell is wholly inside or outside. */
class CellCover {
  private constructor(private readonly xs: number[], private readonly ys: number[], private readonly covered: Uint8Array) {}

  static of(windows: readonly Window[]): CellCover {
    const xs = edges(windows.flatMap((w) => [w.x, w.x + w.width]));
    const ys = edges(windows.flatMap((w) => [w.y, w.y + w.height]));
    const xi = new Map(xs.map((v, i) => [v, i])), yi = new Map(ys.map((v, i) => [v, i]));
    const nx = xs.length - 1;
    const covered = new Uint8Array(nx * (ys.length - 1));
    for (const w of windows) {
      const c0 = xi.get(w.x)!, c1 = xi.get(w.x + w.width)!;
      for (let r = yi.get(w.y)!, r1 = yi.get(w.y + w.height)!; r < r1; r++) covered.fill(1, r * nx + c0, r * nx + c1);
    }
    return new CellCover(xs, ys, covered);
  }

  area(): number {
    const nx = this.xs.length - 1;
    let sum = 0;
    for (let r = 0; r < this.ys.length - 1; r++) {
      const h = this.ys[r + 1] - this.ys[r];
      for (let c = 0; c < nx; c++) if (this.covered[r * nx + c]) sum += h * (this.xs[c + 1] - this.xs[c]);
    }
    return sum;
  }

  /** Each row of cells' runs, a run carried down while the next row has the same one. */
  rectangles(): Window[] {
    const { xs, ys, covered } = this;
    const nx = xs.length - 1;
    const done: Window[] = [];
    let open = new Map<string, Window>();
    for (let r = 0; r < ys.length - 1; r++) {
      const next = new Map<string, Window>();
      for (let c = 0; c < nx;) {
        if (!covered[r * nx + c]) { c++; continue; }
        let e = c;
        while (e < nx && covered[r * nx + e]) e++;
        const key = `${c},${e}`;
        const grown = open.get(key);
        if (grown) { grown.height = ys[r + 1] - grown.y; open.delete(key); next.set(key, grown); }
        else next.set(key, { x: xs[c], y: ys[r], width: xs[e] - xs[c], height: ys[r + 1] - ys[r] });
        c = e;
      }
      done.push(...open.values());
      open = next;
    }
    done.push(...open.values());
    return done.sort((a, b) => a.y - b.y || a.x - b.x);
  }
}

function edges(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}
