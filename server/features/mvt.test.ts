import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader as Pbf } from 'pbf';
import {
  CROWNS_MIN_ZOOM, MAX_TREES_PER_TILE, TOPS_MIN_ZOOM, TREE_CROWNS_LAYER, TREE_TOPS_LAYER, TreeTileCache,
  encodeTreeTile, simplifyClosed, thinTrees, treeTileQueryBbox, type TileTree,
} from './mvt.ts';
import { lonLatToMercator, tileAt } from '../../tiles/tile.matrix.set.ts';

/** A small square crown around a top, counter-clockwise as RFC 7946 wants. */
function tree(id: number, lon: number, lat: number, height: number, r = 2e-5): TileTree {
  return {
    id, lon, lat, height_m: height, crown_area_m2: 12.5, crown_diameter_m: 4,
    crown: { type: 'Polygon', coordinates: [[[lon - r, lat - r], [lon + r, lat - r], [lon + r, lat + r], [lon - r, lat + r], [lon - r, lat - r]]] },
  };
}

function tileOf(lon: number, lat: number, z: number) {
  const [mx, my] = lonLatToMercator(lon, lat);
  return tileAt(mx, my, z);
}

function decode(buf: Uint8Array) {
  return new VectorTile(new Pbf(buf));
}

test('a tile carries every top in it with its properties, at the right place', () => {
  const lon = 6.1, lat = 46.2;
  const tile = tileOf(lon, lat, 17);
  const trees = [tree(1, lon, lat, 21.5), tree(2, lon + 1e-4, lat + 1e-4, 8.25)];
  const buf = encodeTreeTile(trees, tile);
  assert.ok(buf);
  const vt = decode(buf);
  const tops = vt.layers[TREE_TOPS_LAYER];
  assert.equal(tops.length, 2);
  const features = [0, 1].map((i) => tops.feature(i));
  const byId = new Map(features.map((f) => [f.properties.id, f]));
  assert.equal(byId.get(1)!.properties.height_m, 21.5);
  assert.equal(byId.get(2)!.properties.crown_diameter_m, 4);
  const g = byId.get(1)!.toGeoJSON(tile.x, tile.y, tile.z).geometry;
  assert.equal(g.type, 'Point');
  const [glon, glat] = (g as { coordinates: number[] }).coordinates;
  // one extent unit at z17 is about 3 cm: the decoded position is within a metre
  assert.ok(Math.abs(glon - lon) < 1e-5 && Math.abs(glat - lat) < 1e-5, `${glon},${glat}`);
  // crowns are polygons at this zoom
  const crowns = vt.layers[TREE_CROWNS_LAYER];
  assert.equal(crowns.length, 2);
  assert.equal(crowns.feature(0).type, 3);
});

test('crowns only from CROWNS_MIN_ZOOM; nothing below TOPS_MIN_ZOOM', () => {
  const lon = -122.3, lat = 47.6;
  const trees = [tree(1, lon, lat, 30)];
  const low = encodeTreeTile(trees, tileOf(lon, lat, CROWNS_MIN_ZOOM - 1));
  assert.ok(low);
  const vt = decode(low);
  assert.equal(vt.layers[TREE_TOPS_LAYER].length, 1);
  assert.equal(vt.layers[TREE_TOPS_LAYER].feature(0).properties.height_m, 30);
  assert.equal(vt.layers[TREE_CROWNS_LAYER]?.length ?? 0, 0);
  assert.equal(encodeTreeTile(trees, tileOf(lon, lat, TOPS_MIN_ZOOM - 1)), null);
});

test('a tile away from every tree is empty (null)', () => {
  const trees = [tree(1, 10, 50, 20)];
  const far = tileOf(10.5, 50.5, 16);
  assert.equal(encodeTreeTile(trees, far), null);
  assert.throws(() => encodeTreeTile(trees, { z: 3, x: 8, y: 0 }), /no such tile/);
});

test('the query bbox covers the tile with a buffer', () => {
  const lon = 2.35, lat = 48.85;
  const tile = tileOf(lon, lat, 16);
  const [w, s, e, n] = treeTileQueryBbox(tile);
  assert.ok(w < lon && lon < e && s < lat && lat < n);
  assert.ok(e - w < 0.01 && n - s < 0.01);
});

test('thinning keeps the tallest trees and the bound holds', () => {
  const many: TileTree[] = Array.from({ length: 10 }, (_, i) => tree(i, 0, 0, i));
  const kept = thinTrees(many, 3);
  assert.deepEqual(kept.map((t) => t.height_m).sort((a, b) => b - a), [9, 8, 7]);
  // ties at the threshold are kept in the given order up to the bound
  const tied = [tree(1, 0, 0, 5), tree(2, 0, 0, 7), tree(3, 0, 0, 5), tree(4, 0, 0, 5)];
  assert.deepEqual(thinTrees(tied, 3).map((t) => t.id), [1, 2, 3]);
  assert.equal(thinTrees(many, 100).length, 10);
  assert.ok(MAX_TREES_PER_TILE >= 10_000);
});

test('the cache encodes once per tile and version, and invalidation drops it', async () => {
  const lon = 6.1, lat = 46.2;
  const tile = tileOf(lon, lat, 16);
  const cache = new TreeTileCache();
  let loads = 0;
  const load = async () => {
    loads++;
    return [tree(1, lon, lat, 12)];
  };
  const [a, b] = await Promise.all([cache.get('r1', 1, tile, load), cache.get('r1', 1, tile, load)]);
  assert.equal(loads, 1);
  assert.equal(a, b);
  await cache.get('r1', 2, tile, load);
  assert.equal(loads, 2, 'a new version is a new tile');
  cache.invalidate('r1');
  await cache.get('r1', 2, tile, load);
  assert.equal(loads, 3);
  // a failed load is retried, not cached
  await assert.rejects(cache.get('r2', 1, tile, async () => { throw new Error('store down'); }), /store down/);
  await cache.get('r2', 1, tile, load);
  assert.equal(loads, 4);
});

test('crowns decode as polygons with holes, whatever the input winding', () => {
  const lon = 6.1, lat = 46.2, r = 4e-5, h = 1.5e-5;
  const outerCcw = [[lon - r, lat - r], [lon + r, lat - r], [lon + r, lat + r], [lon - r, lat + r], [lon - r, lat - r]];
  const holeCw = [[lon - h, lat - h], [lon - h, lat + h], [lon + h, lat + h], [lon + h, lat - h], [lon - h, lat - h]];
  const tile = tileOf(lon, lat, 19);
  for (const outer of [outerCcw, [...outerCcw].reverse()]) {
    const t: TileTree = { ...tree(7, lon, lat, 15), crown: { type: 'Polygon', coordinates: [outer, holeCw] } };
    const vt = decode(encodeTreeTile([t], tile)!);
    const g = vt.layers[TREE_CROWNS_LAYER].feature(0).toGeoJSON(tile.x, tile.y, tile.z).geometry as { type: string; coordinates: number[][][] };
    assert.equal(g.type, 'Polygon');
    assert.equal(g.coordinates.length, 2, 'exterior and hole');
    const xs = g.coordinates[0].map((c) => c[0]);
    assert.ok(Math.abs(Math.min(...xs) - (lon - r)) < 2e-6 && Math.abs(Math.max(...xs) - (lon + r)) < 2e-6);
  }
});

test('crown rings are simplified within a pixel and stay closed', () => {
  // a staircase circle of radius 200 units with 8-unit steps, as pixel-edge crowns are
  const ring: Array<[number, number]> = [];
  for (let k = 0; k < 360; k += 2) {
    const a = (k * Math.PI) / 180;
    const x = Math.round((2048 + 200 * Math.cos(a)) / 8) * 8, y = Math.round((2048 + 200 * Math.sin(a)) / 8) * 8;
    ring.push([x, ring.length ? ring[ring.length - 1][1] : y], [x, y]);
  }
  ring.push(ring[0]);
  const simple = simplifyClosed(ring, 8);
  assert.ok(simple.length < ring.length / 3, `${ring.length} -> ${simple.length} vertices`);
  assert.deepEqual(simple[0], simple[simple.length - 1]);
  // every original vertex lies within the tolerance of the simplified outline
  const dist = (p: number[], a: number[], b: number[]) => {
    const dx = b[0] - a[0], dy = b[1] - a[1], l = dx * dx + dy * dy;
    const t = l ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l)) : 0;
    return Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
  };
  for (const p of ring) {
    let best = Infinity;
    for (let i = 0; i + 1 < simple.length; i++) best = Math.min(best, dist(p, simple[i], simple[i + 1]));
    assert.ok(best <= 8 + 1e-9, `vertex ${p} is ${best} from the simplified ring`);
  }
});
