import type { ServerConfig } from '../config.ts';
import type { Catalog } from '../catalog/catalog.ts';

/**
 * What route factories are given: configuration and the long-lived services (catalog, model
 * sessions, job runner). Services are added here as the stages that own them land.
 */
export interface AppContext {
  config: ServerConfig;
  /** The raster catalog (server/catalog/catalog.ts). */
  catalog: Catalog;
}
