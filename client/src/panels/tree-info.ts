import * as maplibregl from 'maplibre-gl';
import type { Map as MapLibreMap, MapMouseEvent } from 'maplibre-gl';
import { fmt } from '../format.ts';
import { CROWNS_HIT_LAYER, TOPS_LAYER } from '../layers/trees.ts';

/** The tree under a click, tops first (a top is the precise target), then the crown around it. */
export function treeAt(map: MapLibreMap, point: { x: number; y: number }): Record<string, unknown> | null {
  const layers = [TOPS_LAYER, CROWNS_HIT_LAYER, 'region-trees'].filter((id) => map.getLayer(id));
  if (!layers.length) return null;
  const pad = 3;
  const hits = map.queryRenderedFeatures([[point.x - pad, point.y - pad], [point.x + pad, point.y + pad]], { layers });
  const order = (id: string) => (id === TOPS_LAYER ? 0 : id === 'region-trees' ? 1 : 2);
  hits.sort((a, b) => order(a.layer.id) - order(b.layer.id));
  return (hits[0]?.properties as Record<string, unknown>) ?? null;
}

export function treeHtml(p: Record<string, unknown>): string {
  const n = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : Number(p[k]));
  return `<div class="tree-popup" data-tree-id="${String(p.id ?? '')}"><h3>Tree ${String(p.id ?? '')}</h3><dl>`
    + `<dt>Height</dt><dd class="tree-height">${fmt(n('height_m'), 1, 'm')}</dd>`
    + `<dt>Crown area</dt><dd>${fmt(n('crown_area_m2'), 1, 'm²')}</dd>`
    + `<dt>Crown diameter</dt><dd>${fmt(n('crown_diameter_m'), 1, 'm')}</dd></dl></div>`;
}

/** Click a tree: a popup with its height, crown area and diameter. Returns true when one was hit. */
export function installTreeInfo(map: MapLibreMap, isDrawing: () => boolean): void {
  const popup = new maplibregl.Popup({ closeButton: true, maxWidth: '260px' });
  map.on('click', (e: MapMouseEvent) => {
    if (isDrawing()) return;
    const tree = treeAt(map, e.point);
    if (!tree) return;
    popup.setLngLat(e.lngLat).setHTML(treeHtml(tree)).addTo(map);
  });
  map.on('mousemove', (e: MapMouseEvent) => {
    if (isDrawing()) return;
    map.getCanvas().style.cursor = treeAt(map, e.point) ? 'pointer' : '';
  });
}
