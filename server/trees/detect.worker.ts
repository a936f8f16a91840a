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

serveRequests<DetectionRequest, PackedTrees>({
  handle(req) {
    // packed arrays go back by transfer: a tile's trees as objects took longer to clone than to find
    const packed = detectPacked(req.window, req.options);
    return { result: packed, transfer: packedBuffers(packed) };
  },
});
