/**
 * Canopy height of a raster: POST starts (or returns the running or finished) computation, GET
 * reports its status and progress, DELETE cancels it. When done the CHM is a catalog raster with
 * role 'chm' (GET /api/rasters, map tiles), id `<rasterId>-chm`.
 */
import express, { Router, type Request } from 'express';
import type { AppContext } from '../context.ts';
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import { chmServiceFor, type ChmStatus } from '../../chm/service.ts';
import { defaultModel, listModels } from '../../model/registry.ts';
import type { LoadedManifest } from '../../model/manifest.ts';

const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Over HTTP a model is named from the registry, never given as a path on the server's disk. */
async function modelByName(name?: string): Promise<LoadedManifest> {
  if (name === undefined) return defaultModel();
  const found = (await listModels()).find((m) => m.name === name);
  if (!found) throw new NotFoundError(`unknown model '${name}'`, { model: name });
  return found;
}

function requestedModel(req: Request): string | undefined {
  const fromBody = req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>).model : undefined;
  const model = fromBody ?? req.query.model;
  if (model === undefined) return undefined;
  if (typeof model !== 'string' || !MODEL_NAME.test(model)) throw new InvalidInputError('model must be a model name (see GET /api/models or `forestmap models`)');
  return model;
}

function body(status: ChmStatus) {
  const links: Array<{ rel: string; href: string }> = [{ rel: 'self', href: `/api/rasters/${status.rasterId}/canopy` }];
  if (status.chmId) links.push({ rel: 'chm', href: `/api/rasters/${status.chmId}` });
  return { ...status, links };
}

export default function canopyRoutes(ctx: AppContext): Router {
  const router = Router();
  const { service, restored } = chmServiceFor(ctx, { resolve: modelByName });
  const json = express.json({ limit: '4kb' });

  router.post('/api/rasters/:id/canopy', json, async (req, res) => {
    await restored;
    const aerialRaw = req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>).aerial : undefined;
    if (aerialRaw !== undefined && typeof aerialRaw !== 'boolean') throw new InvalidInputError('aerial must be true or false');
    ctx.catalog.get(req.params.id); // 404 for an unknown raster before anything else
    const status = await service.start(req.params.id, { model: requestedModel(req), aerial: aerialRaw === true });
    res.status(status.state === 'done' ? 200 : 202).location(`/api/rasters/${status.rasterId}/canopy`).json(body(status));
  });

  router.get('/api/rasters/:id/canopy', async (req, res) => {
    await restored;
    ctx.catalog.get(req.params.id);
    const status = service.status(req.params.id);
    if (!status) throw new NotFoundError(`no canopy height computation for raster '${req.params.id}': POST /api/rasters/${req.params.id}/canopy starts one`);
    res.json(body(status));
  });

  router.delete('/api/rasters/:id/canopy', async (req, res) => {
    await restored;
    ctx.catalog.get(req.params.id);
    const status = service.cancel(req.params.id);
    if (!status) throw new NotFoundError(`no canopy height computation for raster '${req.params.id}'`);
    res.json(body(status));
  });

  return router;
}
