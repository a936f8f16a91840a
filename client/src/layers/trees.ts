import type { ExpressionSpecification, Map as MapLibreMap } from 'maplibre-gl';
import { absolute, beforeIdFor } from '../map.ts';
import { applyTo, el, removeLayers, type MapLayer } from './layer.ts';
import { treeHeightStops } from './ramps.ts';

const SOURCE = 'trees';
export const TOPS_LAYER = 'tree-tops';
export const CROWNS_LAYER = 'tree-crowns';
/** Invisible crown fill: a click anywhere inside a crown finds its tree. */
export const CROWNS_HIT_LAYER = 'tree-crowns-hit';
/** The tree tiles' zoom range: must match server/features/mvt.ts (trees.test.ts checks). */
export const TOPS_MIN_ZOOM = 13;
export const CROWNS_MIN_ZOOM = 17;
export const TILES_MAX_ZOOM = 20;

/** Metres per screen pixel at a MapLibre zoom (512 px world at z0) and latitude. */
export function metresPerPixel(zoom: number, lat: number): number {
  return (40075016.686 * Math.cos((lat * Math.PI) / 180)) / (512 * 2 ** zoom);
}

/**
 * Circle radius in pixels from the crown diameter in metres, scaled with zoom so a circle keeps its
 * ground size: 0.15 x diameter, i.e. 30 % of the crown radius, so the crown and its outline stay
 * visible around the top. Never under 2 px, so small trees remain visible when zoomed out.
 */
export function topRadiusExpression(lat: number): ExpressionSpecification {
  const at = (z: number): ExpressionSpecification => ['max', 2, ['*', ['to-number', ['get', 'crown_diameter_m'], 3], 0.15 / metresPerPixel(z, lat)]];
  return ['interpolate', ['exponential', 2], ['zoom'], TOPS_MIN_ZOOM, at(TOPS_MIN_ZOOM), TILES_MAX_ZOOM + 2, at(TILES_MAX_ZOOM + 2)];
}

export function heightColourExpression(): ExpressionSpecification {
  return ['interpolate', ['linear'], ['to-number', ['get', 'height_m'], 0], ...treeHeightStops.flat()] as ExpressionSpecification;
}

/** Tree tops (circles) and crowns (outlines) from the server's vector tiles. */
export class TreesLayer implements MapLayer {
  readonly key = 'trees';
  readonly title = 'Trees (tops and crowns)';
  visible = true;
  opacity = 0.95;
  private rasterId: string | null = null;

  available(): boolean {
    return this.rasterId !== null;
  }

  show(map: MapLibreMap, rasterId: string | null, version: string, lat: number): void {
    removeLayers(map, [TOPS_LAYER, CROWNS_LAYER, CROWNS_HIT_LAYER], SOURCE);
    this.rasterId = rasterId;
    if (!rasterId) return;
    const v = version ? `?v=${encodeURIComponent(version)}` : '';
    map.addSource(SOURCE, {
      type: 'vector',
      tiles: [absolute(`/tiles/${encodeURIComponent(rasterId)}/trees/{z}/{x}/{y}.pbf${v}`)],
      minzoom: TOPS_MIN_ZOOM,
      maxzoom: TILES_MAX_ZOOM,
    });
    map.addLayer({
      id: CROWNS_HIT_LAYER, type: 'fill', source: SOURCE, 'source-layer': 'tree_crowns', minzoom: CROWNS_MIN_ZOOM,
      paint: { 'fill-color': '#000000', 'fill-opacity': 0 },
    }, beforeIdFor(map, 'tree-crowns'));
    map.addLayer({
      id: CROWNS_LAYER, type: 'line', source: SOURCE, 'source-layer': 'tree_crowns', minzoom: CROWNS_MIN_ZOOM,
      paint: { 'line-color': '#f6fbf3', 'line-width': ['interpolate', ['linear'], ['zoom'], 17, 0.6, 18, 0.9, 20, 1.6] },
    }, beforeIdFor(map, 'tree-crowns'));
    map.addLayer({
      id: TOPS_LAYER, type: 'circle', source: SOURCE, 'source-layer': 'tree_tops', minzoom: TOPS_MIN_ZOOM,
      paint: {
        'circle-radius': topRadiusExpression(lat),
        'circle-color': heightColourExpression(),
        'circle-stroke-color': '#1b2420',
        'circle-stroke-width': ['interpolate', ['linear'], ['zoom'], 14, 0, 16, 0.8],
      },
    }, beforeIdFor(map, 'tree-tops'));
    this.apply(map);
  }

  apply(map: MapLibreMap): void {
    applyTo(map, [[TOPS_LAYER, ['circle-opacity', 'circle-stroke-opacity']], [CROWNS_LAYER, ['line-opacity']]], this.visible, this.opacity);
    if (map.getLayer(CROWNS_HIT_LAYER)) map.setLayoutProperty(CROWNS_HIT_LAYER, 'visibility', this.visible ? 'visible' : 'none');
  }

  legend(): HTMLElement {
    const box = el('div', { class: 'legend' });
    const sw = el('div', { class: 'swatches', 'aria-label': 'Tree top colour by height' });
    for (const [h, colour] of treeHeightStops) {
      const item = el('span');
      const dot = el('span', { class: 'swatch' });
      dot.style.background = colour;
      item.append(dot, `${h} m`);
      sw.append(item);
    }
    const crowns = el('div', {});
    crowns.append(el('span', { class: 'outline' }), 'crown outline (zoom in); circle size follows crown diameter');
    box.append(sw, crowns);
    return box;
  }
}
