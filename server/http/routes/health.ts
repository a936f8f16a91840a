import { Router } from 'express';
import type { AppContext } from '../context.ts';

export default function healthRoutes(_ctx: AppContext): Router {
  const router = Router();
  router.get('/api/health', (_req, res) => {
    res.json({ ok: true });
  });
  return router;
}
