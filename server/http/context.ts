import type { ServerConfig } from '../config.ts';

/**
 * What route factories are given: configuration and the long-lived services (catalog, model
 * sessions, job runner). Services are added here as the stages that own them land.
 */
export interface AppContext {
  config: ServerConfig;
}
