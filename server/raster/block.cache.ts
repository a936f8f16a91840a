/**
 * Decoded TIFF blocks, shared by every open raster, bounded in bytes (LRU). Neighbouring map
 * tiles read overlapping windows of the same internal tiles; decoding each block once instead of
 * once per map tile removes most of the decompression work from a tile pyramid.
 */
import type { GeoTIFFImage } from 'geotiff';

type Samples = ArrayLike<number> & { length: number; BYTES_PER_ELEMENT?: number };
type TypedCtor = new (n: number) => Samples & { set(a: ArrayLike<number>, offset?: number): void };

const MAX_BYTES = 96 * 1024 * 1024;
const blocks = new Map<string, Promise<Samples[]>>();
const sizes = new Map<string, number>();
let bytes = 0;

function remember(key: string, size: number): void {
  sizes.set(key, size);
  bytes += size;
  while (bytes > MAX_BYTES && blocks.size > 1) {
    const oldest = blocks.keys().next().value!;
    blocks.delete(oldest);
    bytes -= sizes.get(oldest) ?? 0;
    sizes.delete(oldest);
  }
}

function block(image: GeoTIFFImage, owner: string, bx: number, by: number, bw: number, bh: number, samples: number[]): Promise<Samples[]> {
  const key = `${owner}|${bx},${by}|${samples.join(',')}`;
  const hit = blocks.get(key);
  if (hit) {
    blocks.delete(key);
    blocks.set(key, hit);
    return hit;
  }
  const x0 = bx * bw, y0 = by * bh;
  const x1 = Math.min(image.getWidth(), x0 + bw), y1 = Math.min(image.getHeight(), y0 + bh);
  const p = (image.readRasters({ window: [x0, y0, x1, y1], samples, interleave: false } as any) as unknown as Promise<Samples[]>);
  blocks.set(key, p);
  p.then(
    (arrays) => remember(key, arrays.reduce((s, a) => s + a.length * (a.BYTES_PER_ELEMENT ?? 8), 0)),
    () => blocks.delete(key),
  );
  return p;
}

/**
 * The samples of a window of a tiled image, assembled from cached decoded blocks. `owner` names
 * the file version and level (so a replaced file never reads stale blocks).
 */
export async function readTiledWindow(image: GeoTIFFImage, owner: string, x0: number, y0: number, x1: number, y1: number, samples: number[]): Promise<Samples[]> {
  const bw = image.getTileWidth(), bh = image.getTileHeight();
  const w = x1 - x0, h = y1 - y0;
  const bx0 = Math.floor(x0 / bw), bx1 = Math.floor((x1 - 1) / bw);
  const by0 = Math.floor(y0 / bh), by1 = Math.floor((y1 - 1) / bh);
  const jobs: Array<Promise<{ bx: number; by: number; arrays: Samples[] }>> = [];
  for (let by = by0; by <= by1; by++) {
    for (let bx = bx0; bx <= bx1; bx++) jobs.push(block(image, owner, bx, by, bw, bh, samples).then((arrays) => ({ bx, by, arrays })));
  }
  const parts = await Promise.all(jobs);
  const Ctor = parts[0].arrays[0].constructor as TypedCtor;
  const out = samples.map(() => new Ctor(w * h));
  for (const { bx, by, arrays } of parts) {
    const bxStart = bx * bw, byStart = by * bh;
    const blockWidth = Math.min(image.getWidth(), bxStart + bw) - bxStart;
    const cx0 = Math.max(x0, bxStart), cx1 = Math.min(x1, bxStart + blockWidth);
    const cy0 = Math.max(y0, byStart), cy1 = Math.min(y1, byStart + bh, image.getHeight());
    if (cx1 <= cx0 || cy1 <= cy0) continue;
    for (let s = 0; s < samples.length; s++) {
      const src = arrays[s] as unknown as { subarray(a: number, b: number): ArrayLike<number> };
      const dst = out[s];
      for (let y = cy0; y < cy1; y++) {
        const from = (y - byStart) * blockWidth + (cx0 - bxStart);
        dst.set(src.subarray(from, from + (cx1 - cx0)), (y - y0) * w + (cx0 - x0));
      }
    }
  }
  return out;
}

/** Forget every block of an owner prefix (a closed or replaced file). */
export function dropBlocks(ownerPrefix: string): void {
  for (const key of [...blocks.keys()]) {
    if (!key.startsWith(ownerPrefix)) continue;
    blocks.delete(key);
    bytes -= sizes.get(key) ?? 0;
    sizes.delete(key);
  }
}
