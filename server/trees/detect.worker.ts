/**
 * Tree detection on a worker thread: delineateWindow is synchronous CPU work (tens of ms per
 * 512 px tile), so the pool (detect.pool.ts) runs one per core while the main thread serves
 * requests and merges results.
 */
import type { ChmWindow } from './detect.ts';
import { detectPacked } from './detect.pool.ts';
import { packedBuffers, type PackedTrees } from './packed.ts';
import type { TreeOptionsSpec } from './service.ts';
import { serveRequests } from '../workers/serve.ts';

export interface DetectionRequest {
  window: ChmWindow;
  options: TreeOptionsSpec;
}

/**
 * The window as an object literal of one fixed shape. A structured clone arrives with a map of its
 * own: delineateWindow, optimised for the windows before, deoptimised on each tile's (wrong map,
 * --trace-deopt) and ran its pixel loops unoptimised.
 */
function windowOf(w: ChmWindow): ChmWindow {
  return {
    chm: w.chm, width: w.width, height: w.height, offsetX: w.offsetX, offsetY: w.offsetY,
    rasterWidth: w.rasterWidth, rasterHeight: w.rasterHeight, transform: [...w.transform] as ChmWindow['transform'],
    metresPerUnit: w.metresPerUnit ?? 1,
    core: { x0: w.core.x0, y0: w.core.y0, x1: w.core.x1, y1: w.core.y1 },
  };
}

serveRequests<DetectionRequest, PackedTrees>({
  handle(req) {
    // packed arrays go back by transfer: a tile's trees as objects took longer to clone than to find
    const packed = detectPacked(windowOf(req.window), req.options);
    return { result: packed, transfer: packedBuffers(packed) };
  },
});
