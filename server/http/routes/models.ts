/**
 * The model registry over HTTP: GET /api/models lists the installed canopy height models (what
 * `forestmap models` prints), GET /api/models/:name one of them. Server paths are not exposed;
 * requests name models, never files.
 */
import { Router } from 'express';
import type { AppContext } from '../context.ts';
import { NotFoundError } from '../../errors.ts';
import { defaultModel, listModels } from '../../model/registry.ts';
import type { LoadedManifest } from '../../model/manifest.ts';

/** The public view of a manifest: everything but where it sits on the server's disk. */
export function publicModel(m: LoadedManifest, isDefault: boolean) {
  const { dir: _dir, onnxPath: _onnxPath, onnx, provenance, ...rest } = m;
  const { architectureConfig, ...publicProvenance } = provenance;
  return {
    ...rest,
    default: isDefault,
    testFixture: m.testFixture === true,
    provenance: { ...publicProvenance, ...(architectureConfig ? { architectureConfig } : {}) },
    onnx: { opset: onnx.opset, bytes: onnx.bytes ?? null, sha256: onnx.sha256 ?? null },
    links: [{ rel: 'self', href: `/api/models/${encodeURIComponent(m.name)}` }],
  };
}

async function defaultName(): Promise<string | null> {
  try {
    return (await defaultModel()).name;
  } catch {
    return null;
  }
}

export default function modelRoutes(_ctx: AppContext): Router {
  const router = Router();
  router.get('/api/models', async (_req, res) => {
    const [models, def] = await Promise.all([listModels(), defaultName()]);
    res.json({ default: def, models: models.map((m) => publicModel(m, m.name === def)) });
  });
  router.get('/api/models/:name', async (req, res) => {
    const [models, def] = await Promise.all([listModels(), defaultName()]);
    const found = models.find((m) => m.name === req.params.name);
    if (!found) throw new NotFoundError(`unknown model '${req.params.name}'`, { model: req.params.name, available: models.map((m) => m.name) });
    res.json(publicModel(found, found.name === def));
  });
  return router;
}
