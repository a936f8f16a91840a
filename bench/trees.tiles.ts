/**
 * bench/trees.tiles: vector tiles of a million trees. Trees sit in a kdbush index (standing in
 * for the trees store's bbox query); each tile is cut from just the trees in its bbox with
 * geojson-vt and encoded with vt-pbf (server/features/mvt.ts). Prints, per zoom, the trees per
 * tile, tile size, and p50/p99 time to make a tile cold (no cache), plus the index build time.
 *
 *   npx tsx bench/trees.tiles.ts [--trees 1000000] [--tiles 40]
 */
import KDBush from 'kdbush';
import { TOPS_MIN_ZOOM, encodeTreeTile, treeTileQueryBbox, type TileTree } from '../server/features/mvt.ts';
import { lonLatToMercator, tileAt } from '../tiles/tile.matrix.set.ts';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg('trees', 1_000_000);
const TILES = arg('tiles', 40);

// seeded PRNG so runs compare
let state = 12345;
const rand = () => ((state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32);

// 400 trees/ha: a million trees cover 25 km² (5 x 5 km) near 44° N
const lon0 = -122.3, lat0 = 44.2;
const side = Math.sqrt(N / 400) * 100; // metres
const dLon = side / (111_320 * Math.cos((lat0 * Math.PI) / 180));
const dLat = side / 111_320;

const t0 = performance.now();
const trees: TileTree[] = new Array(N);
for (let i = 0; i < N; i++) {
  const lon = lon0 + rand() * dLon, lat = lat0 + rand() * dLat;
  const h = 3 + rand() * 40;
  const r = 0.8 + h * 0.1;
  const rLon = r / (111_320 * Math.cos((lat * Math.PI) / 180)), rLat = r / 111_320;
  const ring: number[][] = [];
  for (let k = 0; k <= 8; k++) {
    const a = ((k % 8) / 8) * 2 * Math.PI;
    ring.push([lon + Math.cos(a) * rLon, lat + Math.sin(a) * rLat]);
  }
  trees[i] = { id: i + 1, lon, lat, height_m: h, crown_area_m2: Math.PI * r * r, crown_diameter_m: 2 * r, crown: { type: 'Polygon', coordinates: [ring] } };
}
const index = new KDBush(N);
for (const t of trees) index.add(t.lon, t.lat);
index.finish();
const tBuild = performance.now() - t0;
console.log(`bench/trees.tiles: ${N.toLocaleString('en')} trees over ${(side / 1000).toFixed(1)} x ${(side / 1000).toFixed(1)} km; synthetic trees + kdbush index in ${(tBuild / 1000).toFixed(1)} s`);
console.log('zoom  tiles  trees/tile(mean)  KB/tile(mean)  ms/tile p50   p99');

for (const z of [12, 13, 14, 15, 16, 17, 18]) {
  const times: number[] = [];
  let treesSum = 0, bytesSum = 0;
  for (let i = 0; i < TILES; i++) {
    const [mx, my] = lonLatToMercator(lon0 + rand() * dLon, lat0 + rand() * dLat);
    const tile = tileAt(mx, my, z);
    const s = performance.now();
    const [w, so, e, n] = treeTileQueryBbox(tile);
    // as the route: no store query below the zoom where tops start
    const inTile = z < TOPS_MIN_ZOOM ? [] : index.range(w, so, e, n).map((k) => trees[k]);
    const buf = encodeTreeTile(inTile, tile);
    times.push(performance.now() - s);
    treesSum += inTile.length;
    bytesSum += buf?.byteLength ?? 0;
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  console.log(`${String(z).padStart(4)}  ${String(TILES).padStart(5)}  ${(treesSum / TILES).toFixed(0).padStart(16)}  ${(bytesSum / TILES / 1024).toFixed(1).padStart(13)}  ${q(0.5).toFixed(1).padStart(11)}  ${q(0.99).toFixed(1).padStart(5)}`);
}
console.log('Tiles are cached per raster version after the first request (TreeTileCache), so these are cold-tile costs.');
