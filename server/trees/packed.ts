/**
 * Trees and crown polygons in a few flat typed arrays: how detection threads hand a tile's trees
 * to the main thread (transferred, not cloned) and how a job's trees units store them (written and
 * read as bytes, not JSON). A tile holds hundreds of trees and thousands of crown vertices: as
 * objects and nested arrays, cloning and JSON cost about 9 µs per tree (bench: a 588 px tile).
 */
import type { CrownPolygon, Tree } from './types.ts';

/** Float64 fields per tree, in this order. */
const FIELDS = 6;
const ID = 0, X = 1, Y = 2, HEIGHT = 3, AREA = 4, DIAMETER = 5;

export interface PackedTrees {
  /** FIELDS values per tree: id, x, y, height, crownArea, crownDiameter. */
  trees: Float64Array;
  /** Tree k's crown rings are rings ringStart[k] .. ringStart[k + 1] - 1 (none: no crown). */
  ringStart: Int32Array;
  /** Ring j's vertices are vertexStart[j] .. vertexStart[j + 1] - 1. */
  vertexStart: Int32Array;
  /** x, y per vertex. */
  coords: Float64Array;
}

export function packTrees(trees: readonly Tree[], crowns: ReadonlyArray<CrownPolygon | null>): PackedTrees {
  if (crowns.length !== trees.length) throw new Error(`internal: ${trees.length} trees but ${crowns.length} crowns`);
  let nRings = 0, nVertices = 0;
  for (const c of crowns) if (c) { nRings += c.length; for (const ring of c) nVertices += ring.length; }
  const packed: PackedTrees = {
    trees: new Float64Array(trees.length * FIELDS),
    ringStart: new Int32Array(trees.length + 1),
    vertexStart: new Int32Array(nRings + 1),
    coords: new Float64Array(2 * nVertices),
  };
  let r = 0, v = 0;
  for (let k = 0; k < trees.length; k++) {
    const t = trees[k], o = k * FIELDS;
    packed.trees[o + ID] = t.id; packed.trees[o + X] = t.x; packed.trees[o + Y] = t.y;
    packed.trees[o + HEIGHT] = t.height; packed.trees[o + AREA] = t.crownArea; packed.trees[o + DIAMETER] = t.crownDiameter;
    for (const ring of crowns[k] ?? []) {
      for (const [x, y] of ring) { packed.coords[2 * v] = x; packed.coords[2 * v + 1] = y; v++; }
      packed.vertexStart[++r] = v;
    }
    packed.ringStart[k + 1] = r;
  }
  return packed;
}

export function treeCount(p: PackedTrees): number {
  return p.ringStart.length - 1;
}

export function treeId(p: PackedTrees, k: number): number {
  return p.trees[k * FIELDS + ID];
}

export function unpackTree(p: PackedTrees, k: number): Tree {
  const o = k * FIELDS, t = p.trees;
  return { id: t[o + ID], x: t[o + X], y: t[o + Y], height: t[o + HEIGHT], crownArea: t[o + AREA], crownDiameter: t[o + DIAMETER] };
}

/** Tree k's crown polygon, or null when it has none. */
export function unpackCrown(p: PackedTrees, k: number): CrownPolygon | null {
  const r0 = p.ringStart[k], r1 = p.ringStart[k + 1];
  if (r0 === r1) return null;
  const crown: CrownPolygon = [];
  for (let r = r0; r < r1; r++) {
    const ring: Array<[number, number]> = [];
    for (let v = p.vertexStart[r]; v < p.vertexStart[r + 1]; v++) ring.push([p.coords[2 * v], p.coords[2 * v + 1]]);
    crown.push(ring);
  }
  return crown;
}

/** Every tree and crown as objects (a crown with no rings comes back as null). */
export function unpackAll(p: PackedTrees): { trees: Tree[]; crowns: Array<CrownPolygon | null> } {
  const n = treeCount(p);
  return { trees: Array.from({ length: n }, (_, k) => unpackTree(p, k)), crowns: Array.from({ length: n }, (_, k) => unpackCrown(p, k)) };
}

/** The arrays' buffers, to transfer to another thread. */
export function packedBuffers(p: PackedTrees): ArrayBuffer[] {
  return [p.trees.buffer, p.ringStart.buffer, p.vertexStart.buffer, p.coords.buffer] as ArrayBuffer[];
}

/** Sizes that place the arrays in one byte string (float64 arrays first, so each stays aligned). */
export interface PackedLayout {
  trees: number;
  rings: number;
  vertices: number;
}

export function packedLayout(p: PackedTrees): PackedLayout {
  return { trees: treeCount(p), rings: p.vertexStart.length - 1, vertices: p.coords.length / 2 };
}

/** The arrays as byte views, in the order fromPackedBytes reads them. */
export function packedBytes(p: PackedTrees): Uint8Array[] {
  return [p.trees, p.coords, p.ringStart, p.vertexStart].map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

/** Views over `bytes` (whose offset is a multiple of 8) laid out as packedBytes writes them. */
export function fromPackedBytes(bytes: Uint8Array, layout: PackedLayout): PackedTrees {
  const { trees: n, rings, vertices } = layout;
  const size = 8 * (n * FIELDS + 2 * vertices) + 4 * (n + 1 + rings + 1);
  if (![n, rings, vertices].every((c) => Number.isInteger(c) && c >= 0) || bytes.byteOffset % 8 !== 0 || bytes.byteLength !== size) {
    throw new Error(`internal: ${bytes.byteLength} bytes do not hold ${n} packed trees with ${rings} rings and ${vertices} vertices`);
  }
  let at = bytes.byteOffset;
  const take = <T>(make: (buffer: ArrayBuffer, offset: number, length: number) => T & { byteLength: number }, length: number): T => {
    const a = make(bytes.buffer as ArrayBuffer, at, length);
    at += a.byteLength;
    return a;
  };
  const trees = take((b, o, l) => new Float64Array(b, o, l), n * FIELDS);
  const coords = take((b, o, l) => new Float64Array(b, o, l), 2 * vertices);
  const ringStart = take((b, o, l) => new Int32Array(b, o, l), n + 1);
  const vertexStart = take((b, o, l) => new Int32Array(b, o, l), rings + 1);
  if (ringStart[n] !== rings || vertexStart[rings] !== vertices) throw new Error('internal: packed trees are inconsistent');
  return { trees, ringStart, vertexStart, coords };
}
