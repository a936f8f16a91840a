import type { Map as MapLibreMap } from 'maplibre-gl';
import type { RasterInfo } from '../api.ts';
import { absolute, beforeIdFor } from '../map.ts';
import { applyTo, el, removeLayers, type MapLayer } from './layer.ts';
import { CHM_MAX_M, CHM_MIN_M, cssGradient, viridis } from './ramps.ts';

const SOURCE = 'canopy';
const LAYER = 'canopy';

/** The canopy height model (a role 'chm' raster) through the server's viridis ramp, 0-40 m. */
export class CanopyLayer implements MapLayer {
  readonly key = 'canopy';
  readonly title = 'Canopy height';
  // off at first: imagery and trees read best alone; the legend is one click away
  visible = false;
  opacity = 0.7;
  chm: RasterInfo | null = null;

  available(): boolean {
    return this.chm !== null;
  }

  show(map: MapLibreMap, chm: RasterInfo | null, maxzoom: number): void {
    removeLayers(map, [LAYER], SOURCE);
    this.chm = chm;
    if (!chm) return;
    const v = chm.version ? `&v=${encodeURIComponent(chm.version)}` : '';
    map.addSource(SOURCE, {
      type: 'raster',
      tiles: [absolute(`/tiles/${encodeURIComponent(chm.id)}/{z}/{x}/{y}.png?colormap=viridis&rescale=${CHM_MIN_M},${CHM_MAX_M}${v}`)],
      tileSize: 256,
      maxzoom,
      ...(chm.bounds ? { bounds: chm.bounds } : {}),
    });
    map.addLayer({ id: LAYER, type: 'raster', source: SOURCE, paint: { 'raster-fade-duration': 0, 'raster-resampling': 'linear' } }, beforeIdFor(map, 'canopy'));
    this.apply(map);
  }

  apply(map: MapLibreMap): void {
    applyTo(map, [[LAYER, ['raster-opacity']]], this.visible, this.opacity);
  }

  legend(): HTMLElement {
    const box = el('div', { class: 'legend', 'aria-label': `Canopy height colour scale from ${CHM_MIN_M} to ${CHM_MAX_M} metres` });
    const ramp = el('div', { class: 'ramp' });
    ramp.style.background = cssGradient(viridis);
    const ticks = el('div', { class: 'ticks' });
    for (let m = CHM_MIN_M; m <= CHM_MAX_M; m += 10) ticks.append(el('span', {}, m === CHM_MAX_M ? `${m} m` : String(m)));
    box.append(ramp, ticks);
    return box;
  }
}
