import type { Map as MapLibreMap } from 'maplibre-gl';
import type { RasterInfo } from '../api.ts';
import { absolute, beforeIdFor } from '../map.ts';
import { applyTo, removeLayers, type MapLayer } from './layer.ts';

const SOURCE = 'imagery';
const LAYER = 'imagery';

/** The chosen raster as the server renders it: /tiles/:id/{z}/{x}/{y}.png. */
export class ImageryLayer implements MapLayer {
  readonly key = 'imagery';
  readonly title = 'Imagery';
  visible = true;
  opacity = 1;
  private raster: RasterInfo | null = null;

  available(): boolean {
    return this.raster !== null;
  }

  async show(map: MapLibreMap, raster: RasterInfo, maxzoom: number): Promise<void> {
    removeLayers(map, [LAYER], SOURCE);
    this.raster = raster;
    const v = raster.version ? `?v=${encodeURIComponent(raster.version)}` : '';
    map.addSource(SOURCE, {
      type: 'raster',
      tiles: [absolute(`/tiles/${encodeURIComponent(raster.id)}/{z}/{x}/{y}.png${v}`)],
      tileSize: 256,
      maxzoom,
      ...(raster.bounds ? { bounds: raster.bounds } : {}),
    });
    map.addLayer({ id: LAYER, type: 'raster', source: SOURCE, paint: { 'raster-fade-duration': 0 } }, beforeIdFor(map, 'imagery'));
    this.apply(map);
  }

  apply(map: MapLibreMap): void {
    applyTo(map, [[LAYER, ['raster-opacity']]], this.visible, this.opacity);
  }

  legend(): HTMLElement | null {
    return null;
  }
}
