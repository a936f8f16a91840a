/**
 * Tree detection on a worker thread: delineateWindow is synchronous CPU work (tens of ms per
 * 512 px tile), so the pool (detect.pool.ts) runs one per core while the main thread serves
 * requests and merges results.
 */
import { delineateWindow, resolveTreeOptions, type ChmWindow } from './detect.ts';
import { treeOptionsOf, type TreeOptionsSpec } from './service.ts';
import type { CrownPolygon, Tree } from './types.ts';
import { serveRequests } from '../workers/serve.ts';

export interface DetectionRequest {
  window: ChmWindow;
  options: TreeOptionsSpec;
}
export interface DetectedTrees {
  trees: Tree[];
  crowns: Array<CrownPolygon | null>;
}

serveRequests<DetectionRequest, DetectedTrees>({
  handle(req) {
    const { trees, crowns } = delineateWindow(req.window, resolveTreeOptions(treeOptionsOf(req.options)));
    return { result: { trees, crowns } };
  },
});
