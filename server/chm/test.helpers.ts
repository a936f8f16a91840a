/** Test and bench support: synthetic georeferenced RGB rasters and whole-window inference. */
import { writeCog } from '../raster/cog.writer.ts';
import type { Crs, Grid } from '../raster/types.ts';
import type { LoadedManifest } from '../model/manifest.ts';
import { getModelSession } from '../model/session.ts';
import { normaliseTile } from '../model/preprocess.ts';

/** Write a uint8 RGB COG whose pixel (x, y) band c is pixel(x, y, c); where mask() is false, nodata (0,0,0). */
export async function writeRgb(path: string, width: number, height: number, gsd: number, crs: Crs, origin: [number, number], pixel: (x: number, y: number, c: number) => number, mask?: (x: number, y: number) => boolean): Promise<Grid> {
  const grid: Grid = { width, height, transform: [origin[0], gsd, 0, origin[1], 0, -gsd], crs };
  await writeCog(path, { grid, bands: 3, sampleType: 'uint8', tileSize: 256, photometric: 'rgb', nodata: mask ? 0 : null }, (w) => {
    const planes = Array.from({ length: 3 }, () => new Uint8Array(w.width * w.height));
    for (let y = 0; y < w.height; y++) {
      for (let x = 0; x < w.width; x++) {
        const i = y * w.width + x;
        const valid = !mask || mask(x, w.y + y);
        // valid pixels never read as nodata: at least 1 in each band when a mask is in use
        for (let c = 0; c < 3; c++) planes[c][i] = valid ? Math.max(mask ? 1 : 0, pixel(x, w.y + y, c)) : 0;
      }
    }
    return planes;
  });
  return grid;
}

/** A deterministic canopy-like texture: blobs of varying brightness and colour. */
export function texture(seed = 1): (x: number, y: number, c: number) => number {
  const f = (x: number, y: number) => Math.sin(x * 0.07 + seed) * Math.cos(y * 0.05 - seed) + 0.5 * Math.sin((x + y) * 0.13) + 0.25 * Math.cos(x * 0.31 - y * 0.23 + seed);
  return (x, y, c) => Math.max(0, Math.min(255, Math.round(90 + 60 * f(x + c * 3, y - c * 2) + c * 15)));
}

/** The model run once over a whole width x height RGB image (no tiling): metres, row-major. */
export async function wholeWindow(manifest: LoadedManifest, width: number, height: number, pixel: (x: number, y: number, c: number) => number): Promise<Float32Array> {
  const bands = [0, 1, 2].map((c) => Float32Array.from({ length: width * height }, (_, i) => pixel(i % width, Math.floor(i / width), c)));
  const session = await getModelSession(manifest);
  return session.run(normaliseTile(bands, manifest.input), 1, height, width);
}
