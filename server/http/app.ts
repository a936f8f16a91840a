import express, { type Express, type Router } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorHandler } from './errors.ts';
import type { AppContext } from './context.ts';
import { closeTreeService } from './routes/trees.ts';
import { closeChmService } from '../chm/service.ts';
import { closeJobService } from '../jobs/service.ts';
import { releaseDetectionPool } from '../trees/detect.pool.ts';

/**
 * The HTTP route table. Each resource has its own module under routes/ exporting a factory
 * `(ctx) => Router`; this file only mounts them, in order.
 */
type RouteFactory = (ctx: AppContext) => Router;

export async function createApp(ctx: AppContext): Promise<Express> {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const routeModules: Array<() => Promise<{ default: RouteFactory }>> = [
    () => import('./routes/health.ts'),
    () => import('./routes/rasters.ts'),
    () => import('./routes/tiles.ts'),
    () => import('./routes/processes.ts'),
    () => import('./routes/regions.ts'),
    () => import('./routes/jobs.ts'),
    () => import('./openapi.ts'),
    () => import('./routes/canopy.ts'),
    () => import('./routes/models.ts'),
    () => import('./routes/trees.ts'),
    () => import('./routes/trees.tiles.ts'),
    // the web client serves '/' and static files: keep it last, just before the error handlers
    () => import('./routes/client.ts'),
  ];
  for (const load of routeModules) app.use((await load()).default(ctx));
  // everything under the API's prefixes answers in JSON, a path that matches no route too (the
  // web client owns the rest)
  app.use(['/api', '/tiles', '/jobs', '/processes'], (req, res) => res.status(404).json({ error: `no such API endpoint: ${req.method} ${req.originalUrl.split('?')[0].slice(0, 200)}`, status: 404 }));
  app.use(errorHandler);
  return app;
}

/** A plain node:http request listener: what http.createServer takes. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * What `forestmap serve` hands to http.createServer (and the e2e harness and bench/tiles with it):
 * tiles already rendered once are answered straight from the tile routes' ready store, before
 * Express (routing costs more than sending them); every other request, and a ready tile whose
 * raster changed, goes to the app. `app` is what the rest falls through to, createApp(ctx) unless
 * given (tests pass a wrapper to see which requests reach it).
 */
export async function createRequestListener(ctx: AppContext, app?: RequestListener): Promise<RequestListener> {
  const fallback: RequestListener = app ?? (await createApp(ctx));
  const answerReady = (await import('./routes/tiles.ts')).readyTileResponder(ctx);
  return (req, res) => {
    const answering = answerReady(req, res);
    if (answering === false) {
      fallback(req, res);
      return;
    }
    answering.then(
      (answered) => {
        if (!answered) fallback(req, res);
      },
      (err: unknown) => {
        if (!res.headersSent) fallback(req, res);
        else res.destroy(err instanceof Error ? err : new Error(String(err)));
      },
    );
  };
}

/**
 * Stops the background services the routes started for a context (trees, CHMs, jobs) and waits
 * until they have let go of their files: running jobs stay 'running' and resume at the next start.
 */
export async function closeAppServices(ctx: AppContext): Promise<void> {
  await closeTreeService(ctx);
  await closeChmService(ctx);
  await closeJobService(ctx);
  // after the jobs: their trees units detect on these threads
  await releaseDetectionPool();
}
