import { createServer } from 'node:http';
import { loadConfig } from '../config.ts';
import { makeDirectory } from '../fs.dirs.ts';
import { lockFolder } from '../fs.lock.ts';
import { closeAppServices, createRequestListener } from '../http/app.ts';
import type { AppContext } from '../http/context.ts';
import { Catalog } from '../catalog/catalog.ts';
import { bootstrapDemo } from '../demo.ts';

export const usage = `forestmap serve

Starts the web map and API on http://HOST:PORT (default 127.0.0.1:8080).
Environment: PORT, HOST, DATA_DIR (rasters to serve; default ./data; when unset the embedded demo
scene is generated once and served), VAR_DIR (caches and job database; default ./var).`;

export async function run(_argv: string[]): Promise<number> {
  const config = loadConfig();
  makeDirectory(config.varDir);
  // before anything reads or cleans the folder: a second server there would resume the same jobs
  const lock = lockFolder(config.varDir, 'server', `VAR_DIR ${config.varDir}`, 'another forestmap server');
  const catalog = await Catalog.open({ dataDir: config.dataDir, varDir: config.varDir, maxUploadBytes: config.maxUploadBytes });
  const ctx: AppContext = { config, catalog };
  // ready tiles are answered in front of Express, the rest by the app (see createRequestListener)
  const server = createServer(await createRequestListener(ctx));
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  console.log(`[forestmap] serving http://${config.host}:${port}`);
  // The demo scene generates in the background (seconds, once); it appears in the catalog when ready.
  if (config.demo) void bootstrapDemo(ctx).catch((err) => console.error(`[demo] failed: ${err instanceof Error ? err.message : String(err)}`));
  await new Promise<void>((resolve) => {
    // background work lets go of its files first, so a restart resumes it cleanly
    const stop = () => void closeAppServices(ctx).catch(() => undefined).finally(() => server.close(() => resolve()));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  lock.release();
  return 0;
}
