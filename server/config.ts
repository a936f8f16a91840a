import { resolve } from 'node:path';

/** Everything the server reads from the environment, parsed once. */
export interface ServerConfig {
  host: string;
  port: number;
  /** User rasters, registered at start (DATA_DIR, default ./data). */
  dataDir: string;
  /** True when DATA_DIR was not given: the embedded demo scene is generated (once) and served. */
  demo: boolean;
  /** Caches, uploads, computed CHMs, job database. */
  varDir: string;
  maxUploadBytes: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be an integer 0-65535, got '${env.PORT}'`);
  return {
    host: env.HOST ?? '127.0.0.1',
    port,
    dataDir: resolve(env.DATA_DIR ?? 'data'),
    demo: env.DATA_DIR === undefined && env.DEMO !== '0',
    varDir: resolve(env.VAR_DIR ?? 'var'),
    maxUploadBytes: Number(env.MAX_UPLOAD_MB ?? 2048) * 1024 * 1024,
  };
}
