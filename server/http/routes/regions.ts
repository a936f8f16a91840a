/**
 * A region checked before any job: `POST /api/regions` takes what a region file holds (GeoJSON
 * Polygon, MultiPolygon, Feature or FeatureCollection, in WGS84 or in the CRS a GeoJSON 2008 `crs`
 * member names) and answers the region as the forest-map process would take it: one WGS84
 * MultiPolygon Feature, exterior rings counter-clockwise, with its bbox and geodesic area. The web
 * client shows a loaded stand boundary with it; a script can validate a region without starting
 * a job. The same limits as the process's region input apply. A FeatureCollection of several
 * features also lists them (`parts`: index, id, area), as a job's statistics will.
 */
import { Router } from 'express';
import { jsonBodyOfAnyType } from '../json.body.ts';
import type { AppContext } from '../context.ts';
import { parseRegion } from '../../features/region.ts';
import { jobServiceFor } from '../../jobs/service.ts';
import { roundTo } from '../../features/decimals.ts';

export default function regionRoutes(ctx: AppContext): Router {
  const router = Router();
  const jobs = () => jobServiceFor(ctx);
  const body = jsonBodyOfAnyType(() => jobs().config.maxBodyBytes);
  router.post('/api/regions', body, (req, res) => {
    const region = parseRegion(req.body, jobs().config.region);
    res.json({
      type: 'Feature',
      bbox: region.bbox,
      geometry: region.geometry,
      properties: {
        area_m2: roundTo(region.areaM2, 3), area_ha: roundTo(region.areaM2 / 1e4, 3),
        // a FeatureCollection of several features: a job reports on each of them too
        ...(region.parts ? { parts: region.parts.map((p) => ({ feature: p.feature, id: p.id, area_ha: roundTo(p.areaM2 / 1e4, 3) })) } : {}),
      },
    });
  });
  return router;
}
