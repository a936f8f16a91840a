import express, { type Express, type Router } from 'express';
import { errorHandler } from './errors.ts';
import type { AppContext } from './context.ts';
import { closeTreeService } from './routes/trees.ts';
import { closeChmService } from '../chm/service.ts';
import { closeJobService } from '../jobs/service.ts';

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
  app.use('/api', (_req, res) => res.status(404).json({ error: 'no such API endpoint', status: 404 }));
  app.use(errorHandler);
  return app;
}

/**
 * Stops the background services the routes started for a context (trees, CHMs, jobs) and waits
 * until they have let go of their files: running jobs stay 'running' and resume at the next start.
 */
export async function closeAppServices(ctx: AppContext): Promise<void> {
  await closeTreeService(ctx);
  await closeChmService(ctx);
  await closeJobService(ctx);
}
