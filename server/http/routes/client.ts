import express, { Router } from 'express';
import { join } from 'node:path';
import type { AppContext } from '../context.ts';
import { distDir, ensureClientBuilt } from '../../../client/build.ts';

/**
 * The web map at `/`: static files from client/dist, built on first use when missing or stale
 * so `npm start` after a plain `npm install` serves the current client.
 */
export default function clientRoutes(_ctx: AppContext): Router {
  const router = Router();
  // start building at once; requests wait for it rather than racing the bundler
  const ready = ensureClientBuilt();
  ready.catch((err) => console.error('[client] build failed:', err instanceof Error ? err.message : err));

  router.use(async (req, _res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (req.path.startsWith('/api/') || req.path.startsWith('/tiles/') || req.path.startsWith('/jobs') || req.path.startsWith('/processes')) return next();
    try {
      await ready;
      next();
    } catch (err) {
      next(err);
    }
  });
  router.use(
    express.static(distDir, {
      index: 'index.html',
      dotfiles: 'ignore',
      setHeaders(res, path) {
        // the bundle has a fixed name, so the browser must revalidate it
        res.setHeader('Cache-Control', 'no-cache');
        if (path.endsWith('.mjs')) res.setHeader('Content-Type', 'text/javascript; charset=utf-8');
      },
    }),
  );
  router.get('/', (_req, res) => res.sendFile(join(distDir, 'index.html')));
  return router;
}
