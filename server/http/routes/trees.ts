/**
 * Trees of a raster for the map: GET /api/rasters/:id/trees?bbox=minLon,minLat,maxLon,maxLat
 * [&limit=N][&geometry=crown|point] answers with a WGS84 GeoJSON FeatureCollection from the
 * raster's tree store (the raster itself when it is a CHM, else the CHM computed from it).
 * While trees are still being computed it answers 202 with the progress;
 * GET /api/rasters/:id/trees/status reports the state alone.
 */
import { Router, type Request } from 'express';
import type { AppContext } from '../context.ts';
import { ConflictError, InvalidInputError } from '../../errors.ts';
import { treeServiceFor } from '../../trees/service.ts';
import { FeatureCollectionWriter } from '../../features/geojson.ts';

const DEFAULT_LIMIT = 5000;
const MAX_LIMIT = 50000;

// one background tree service per catalog, shared with the jobs (server/jobs/service.ts)
export { closeTreeService, treeServiceFor } from '../../trees/service.ts';

export function parseBbox(value: unknown): [number, number, number, number] {
  if (typeof value !== 'string' || value.length > 200) throw new InvalidInputError('bbox=minLon,minLat,maxLon,maxLat is required');
  const parts = value.split(',');
  const n = parts.map((p) => (p.trim() === '' ? NaN : Number(p)));
  if (n.length !== 4 || !n.every(Number.isFinite)) throw new InvalidInputError(`bbox must be four numbers minLon,minLat,maxLon,maxLat, got '${value.slice(0, 80)}'`);
  const [minLon, minLat, maxLon, maxLat] = n;
  if (minLon < -180 || maxLon > 180 || minLat < -90 || maxLat > 90) throw new InvalidInputError('bbox must lie within longitude [-180, 180] and latitude [-90, 90]');
  if (minLon > maxLon || minLat > maxLat) throw new InvalidInputError('bbox minimum exceeds its maximum');
  return [minLon, minLat, maxLon, maxLat];
}

function parseLimit(req: Request): number {
  const raw = req.query.limit;
  if (raw === undefined) return DEFAULT_LIMIT;
  const n = typeof raw === 'string' && /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) throw new InvalidInputError(`limit must be an integer in [1, ${MAX_LIMIT}]`);
  return n;
}

export default function treesRoutes(ctx: AppContext): Router {
  const router = Router();
  const service = treeServiceFor(ctx);

  router.get('/api/rasters/:id/trees/status', (req, res) => {
    const chm = service.chmFor(req.params.id);
    const status = service.status(chm.id);
    if (!status) throw new ConflictError(`trees of '${chm.id}' are not scheduled`);
    res.json(status);
  });

  router.get('/api/rasters/:id/trees', async (req, res) => {
    // an unknown raster is the first thing to hear about, before the query's details
    const chm = service.chmFor(req.params.id);
    const bbox = parseBbox(req.query.bbox);
    const limit = parseLimit(req);
    const geometry = req.query.geometry ?? 'crown';
    if (geometry !== 'crown' && geometry !== 'point') throw new InvalidInputError("geometry must be 'crown' or 'point'");
    const store = await service.store(chm.id);
    if (!store) {
      const status = service.status(chm.id);
      if (status?.state === 'failed') throw new ConflictError(`tree detection failed for '${chm.id}': ${status.error}`);
      res.status(202).set('Retry-After', '2').json(status ?? { chmId: chm.id, state: 'queued', progress: 0 });
      return;
    }
    const result = await store.query({ bbox, limit, geometry });
    res.status(200).type('application/geo+json');
    res.set('X-Trees-Matched', String(result.matched));
    res.set('X-Trees-Truncated', String(result.matched > result.features.length));
    const writer = new FeatureCollectionWriter(res);
    for (const f of result.features) await writer.write(f);
    await writer.end();
    res.end();
  });

  return router;
}
