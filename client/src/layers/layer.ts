import type { Map as MapLibreMap } from 'maplibre-gl';

/**
 * What the layers panel needs from a layer: a title, visibility, opacity and a legend. Each layer
 * module owns its sources and style layers and applies these settings to them.
 */
export interface MapLayer {
  readonly key: string;
  readonly title: string;
  visible: boolean;
  opacity: number;
  /** False while the layer has nothing to show (no CHM yet, no trees yet). */
  available(): boolean;
  apply(map: MapLibreMap): void;
  legend(): HTMLElement | null;
}

/** Sets visibility and an opacity paint property on each style layer that exists. */
export function applyTo(map: MapLibreMap, ids: Array<[string, string[]]>, visible: boolean, opacity: number): void {
  for (const [id, opacityProps] of ids) {
    if (!map.getLayer(id)) continue;
    map.setLayoutProperty(id, 'visibility', visible ? 'visible' : 'none');
    for (const prop of opacityProps) map.setPaintProperty(id, prop as 'raster-opacity', opacity);
  }
}

export function removeLayers(map: MapLibreMap, layerIds: string[], sourceId: string): void {
  for (const id of layerIds) if (map.getLayer(id)) map.removeLayer(id);
  if (map.getSource(sourceId)) map.removeSource(sourceId);
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
