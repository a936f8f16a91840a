/**
 * Tree detection on a worker thread: delineateWindow is synchronous CPU work (tens of ms per
 * 512 px tile), so the pool (detect.pool.ts) runs one per core while the main thread serves
 * requests and merges results.
 */
import { parentPort } from 'node:worker_threads';
import { delineateWindow, resolveTreeOptions, type ChmWindow } from './detect.ts';
import { treeOptionsOf, type TreeOptionsSpec } from './service.ts';
import type { CrownPolygon, Tree } from './types.ts';

export interface DetectionRequest {
  id: number;
  window: ChmWindow;
  options: TreeOptionsSpec;
}
export type DetectionReply =
  | { id: number; trees: Tree[]; crowns: Array<CrownPolygon | null> }
  | { id: number; error: { name: string; message: string } };

const port = parentPort!;
port.on('message', (req: DetectionRequest | { close: true }) => {
  if ('close' in req) {
    port.close();
    return;
  }
  try {
    const { trees, crowns } = delineateWindow(req.window, resolveTreeOptions(treeOptionsOf(req.options)));
    port.postMessage({ id: req.id, trees, crowns } satisfies DetectionReply);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    port.postMessage({ id: req.id, error: { name: e.name, message: e.message } } satisfies DetectionReply);
  }
});
port.postMessage({ ready: true });
