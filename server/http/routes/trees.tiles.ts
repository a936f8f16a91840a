/**
 * Vector tiles of a raster's trees for the web map:
 *   GET /tiles/:id/trees/{z}/{x}/{y}.pbf   MVT with layers tree_tops and tree_crowns
 * `:id` is a CHM or an image with a computed CHM (as /api/rasters/:id/trees). Each tile is cut
 * from the trees store's bbox query (server/features/mvt.ts) and kept, gzipped, in memory per
 * CHM version. 204 when a tile holds no tree, when the zoom is below the tree layers' minimum, and
 * while the trees are still being computed (GET /api/rasters/:id/trees/status says when).
 */
import { Router, type Request, type Response } from 'express';
import { gunzipSync, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { AppContext } from '../context.ts';
import { InvalidInputError } from '../../errors.ts';
import {
  CROWNS_MIN_ZOOM, MAX_TREES_PER_TILE, TOPS_MIN_ZOOM, TreeTileCache, treeTileQueryBbox, type TileTree,
} from '../../features/mvt.ts';
import { isValidTile, MAX_ZOOM, type TileXyz } from '../../../tiles/tile.matrix.set.ts';
import type { TreeStore } from '../../trees/store.ts';
import { treeServiceFor } from './trees.ts';

const gzipAsync = promisify(gzip);

export function parseTreeTile(z: string, x: string, file: string): TileXyz {
  const m = /^(\d{1,10})\.pbf$/.exec(file);
  const nums = [z, x, m?.[1]].map((s) => (s !== undefined && /^\d{1,10}$/.test(s) ? Number(s) : NaN));
  const tile = { z: nums[0], x: nums[1], y: nums[2] };
  if (!m || !isValidTile(tile)) throw new InvalidInputError(`no tree tile ${z}/${x}/${file.slice(0, 20)}: want {z}/{x}/{y}.pbf with z in 0..${MAX_ZOOM} and x, y in 0..2^z-1`);
  return tile;
}

/** The trees of a tile from the store: tops always, crown polygons from CROWNS_MIN_ZOOM. */
async function treesOfTile(store: TreeStore, tile: TileXyz): Promise<TileTree[]> {
  const bbox = treeTileQueryBbox(tile);
  const tops = await store.query({ bbox, limit: MAX_TREES_PER_TILE, geometry: 'point' });
  const crowns = new Map<number, TileTree['crown']>();
  if (tile.z >= CROWNS_MIN_ZOOM && tops.features.length) {
    const withCrowns = await store.query({ bbox, limit: MAX_TREES_PER_TILE, geometry: 'crown' });
    for (const f of withCrowns.features) {
      const g = f.geometry;
      if (g.type === 'Polygon') crowns.set(Number(f.properties.id), g);
    }
  }
  return tops.features.map((f) => {
    const p = f.properties;
    const [lon, lat] = (f.geometry as { coordinates: [number, number] }).coordinates;
    return {
      id: p.id, lon, lat, height_m: p.height_m, crown_area_m2: p.crown_area_m2, crown_diameter_m: p.crown_diameter_m,
      crown: crowns.get(Number(p.id)) ?? null,
    };
  });
}

function send(req: Request, res: Response, gz: Buffer): void {
  res.setHeader('Content-Type', 'application/vnd.mapbox-vector-tile');
  res.setHeader('Vary', 'Accept-Encoding');
  if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    res.setHeader('Content-Encoding', 'gzip');
    res.end(gz);
  } else res.end(gunzipSync(gz));
}

export default function treeTileRoutes(ctx: AppContext): Router {
  const router = Router();
  const service = treeServiceFor(ctx);
  const cache = new TreeTileCache();
  ctx.catalog.on('change', (e) => cache.invalidate(e.entry.id));

  router.get('/tiles/:id/trees/:z/:x/:file', async (req, res) => {
    const tile = parseTreeTile(req.params.z, req.params.x, req.params.file);
    const chm = service.chmFor(req.params.id);
    if (tile.z < TOPS_MIN_ZOOM) {
      res.setHeader('Cache-Control', 'public, max-age=3600');
      res.status(204).end();
      return;
    }
    const store = await service.store(chm.id);
    if (!store) {
      // still computing: an empty tile now, never cached, so the map fills in once trees exist
      res.setHeader('Cache-Control', 'no-store');
      res.status(204).end();
      return;
    }
    const status = service.status(chm.id);
    const version = status?.version ?? chm.version;
    const mvt = await cache.get(chm.id, version, tile, () => treesOfTile(store, tile));
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.setHeader('ETag', `"${version}-${tile.z}-${tile.x}-${tile.y}"`);
    if (!mvt) {
      res.status(204).end();
      return;
    }
    send(req, res, await gzipped(mvt));
  });

  return router;
}

const gzCache = new WeakMap<Uint8Array, Promise<Buffer>>();
/** Each encoded tile is gzipped once: the WeakMap follows the tile cache's lifetime. */
function gzipped(mvt: Uint8Array): Promise<Buffer> {
  let p = gzCache.get(mvt);
  if (!p) {
    p = gzipAsync(mvt, { level: 6 });
    gzCache.set(mvt, p);
  }
  return p;
}
