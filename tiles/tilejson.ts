/** TileJSON 3.0.0 for a raster: bounds, centre and the zoom range its resolution supports. */
import type { RasterMetadata } from '../server/raster/metadata.ts';
import { zoomForResolution } from './tile.matrix.set.ts';

export interface TileJson {
  tilejson: '3.0.0';
  name: string;
  tiles: string[];
  bounds: [number, number, number, number];
  center: [number, number, number];
  minzoom: number;
  maxzoom: number;
  scheme: 'xyz';
  tileSize: number;
  attribution?: string;
}

/**
 * maxzoom: the first zoom whose Web Mercator pixels are no larger than the raster's (GSD over
 * cos(latitude), since Mercator stretches ground distances by 1/cos); minzoom: where the whole
 * raster spans about one tile.
 */
export function zoomRange(metadata: Pick<RasterMetadata, 'gsd' | 'width' | 'height' | 'wgs84Bounds'>, tileSize = 256): { minzoom: number; maxzoom: number } {
  const [, s, , n] = metadata.wgs84Bounds;
  const lat = Math.min(85, Math.abs((s + n) / 2));
  const mercatorRes = metadata.gsd / Math.cos((lat * Math.PI) / 180);
  const maxzoom = Math.min(24, zoomForResolution(mercatorRes, tileSize, 24));
  const span = Math.max(metadata.width, metadata.height) / tileSize;
  const minzoom = Math.max(0, maxzoom - Math.max(0, Math.ceil(Math.log2(Math.max(1, span)))));
  return { minzoom, maxzoom };
}

export function tileJson(metadata: RasterMetadata, opts: { name: string; tilesUrl: string; tileSize?: number }): TileJson {
  const { minzoom, maxzoom } = zoomRange(metadata, opts.tileSize ?? 256);
  const [w, s, e, n] = metadata.wgs84Bounds;
  return {
    tilejson: '3.0.0',
    name: opts.name,
    tiles: [opts.tilesUrl],
    bounds: [w, s, e, n],
    center: [(w + e) / 2, (s + n) / 2, Math.max(minzoom, Math.min(maxzoom, maxzoom - 2))],
    minzoom,
    maxzoom,
    scheme: 'xyz',
    tileSize: opts.tileSize ?? 256,
  };
}
