/**
 * A map tile from a raster: plan + read (tile.read.ts), choose the display range (explicit
 * `rescale`, else the data type's or the raster's approximate statistics), colour, encode.
 * Returns null when the tile has nothing to draw (HTTP 204).
 */
import { InvalidInputError } from '../errors.ts';
import { encodeRgba, type TileFormat } from '../../tiles/encode.ts';
import { renderRgba, type RenderStyle } from '../../tiles/render.ts';
import type { TileStyleParams } from '../../tiles/tile.params.ts';
import type { TileXyz } from '../../tiles/tile.matrix.set.ts';
import { approxStats } from './stats.ts';
import { readTile } from './tile.read.ts';
import type { RasterSource } from './source.ts';

export interface TileRenderRequest {
  tile: TileXyz;
  size: number;
  format: TileFormat;
  style: TileStyleParams;
  /** 'chm' rasters default to the viridis ramp from 0 m. */
  role?: string;
}

/** The bands drawn by default: RGB for 3+ bands, the first band otherwise. */
export function defaultBands(bandCount: number): number[] {
  return bandCount >= 3 ? [0, 1, 2] : [0];
}

export async function resolveStyle(source: RasterSource, style: TileStyleParams, role?: string): Promise<{ bands: number[]; render: RenderStyle }> {
  const m = source.metadata;
  const bands = style.bands ?? defaultBands(m.bandCount);
  for (const b of bands) if (b >= m.bandCount) throw new InvalidInputError(`bidx ${b + 1} out of range: the raster has ${m.bandCount} band(s)`);
  let rescale = style.rescale;
  if (!rescale) {
    if (m.sampleType === 'uint8' && !m.bandScaling) rescale = [[0, 255]];
    else {
      const stats = await approxStats(source);
      rescale = bands.map((b) => {
        const s = stats[b];
        if (role === 'chm') return [0, Math.max(1, Number.isFinite(s.p98) ? s.p98 : 1)];
        return Number.isFinite(s.p2) && s.p98 > s.p2 ? [s.p2, s.p98] : [Number.isFinite(s.min) ? s.min : 0, Number.isFinite(s.max) && s.max > s.min ? s.max : (s.min || 0) + 1];
      });
    }
  }
  const colormap = style.colormap ?? (role === 'chm' && bands.length === 1 ? 'viridis' : null);
  return { bands, render: { rescale, colormap } };
}

export async function renderTile(source: RasterSource, req: TileRenderRequest): Promise<Buffer | null> {
  const { bands, render } = await resolveStyle(source, req.style, req.role);
  const image = await readTile(source, req.tile, { size: req.size, resampling: req.style.resampling, bands });
  if (!image) return null;
  if (image.mask && !image.mask.some((v) => v === 1)) return null;
  const rgba = renderRgba(image, render);
  return encodeRgba(rgba, req.size, req.size, req.format);
}
