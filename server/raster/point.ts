/** Band values of a raster at a WGS84 point: the full-resolution pixel under it. */
import { projector, WGS84 } from '../../tiles/projection.ts';
import type { RasterSource } from './source.ts';

export interface PointValues {
  /** False when the point lies outside the raster. */
  inside: boolean;
  /** Full-resolution pixel (column, row), or null outside. */
  pixel: [number, number] | null;
  /** One value per data band; null where the pixel is nodata/masked (or outside). */
  values: Array<number | null>;
}

export async function pointValues(source: RasterSource, lon: number, lat: number): Promise<PointValues> {
  const { transform: t, width, height, crs } = source.grid;
  const [x, y] = projector(WGS84, crs)(lon, lat);
  const det = t[1] * t[5] - t[2] * t[4];
  const dx = x - t[0], dy = y - t[3];
  const col = Math.floor((t[5] * dx - t[2] * dy) / det);
  const row = Math.floor((t[1] * dy - t[4] * dx) / det);
  const nb = source.metadata.bandCount;
  if (!(col >= 0 && row >= 0 && col < width && row < height)) return { inside: false, pixel: null, values: new Array(nb).fill(null) };
  const block = await source.readLevel(0, { x: col, y: row, width: 1, height: 1 });
  const valid = !block.mask || block.mask[0] === 1;
  return { inside: true, pixel: [col, row], values: block.bands.map((b) => (valid ? b[0] : null)) };
}
