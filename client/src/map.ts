import * as maplibregl from 'maplibre-gl';
import type { Map as MapLibreMap, StyleSpecification } from 'maplibre-gl';
import type { Bbox } from './api.ts';

/**
 * The map with an offline style: no glyphs, no sprite, no external source. Every layer is a
 * raster, circle, line or fill layer fed from this server; text is HTML beside the map.
 */
export const offlineStyle: StyleSpecification = {
  version: 8,
  sources: {},
  layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#dfe5df' } }],
};

export function createMap(container: HTMLElement): MapLibreMap {
  // the worker sits beside the bundle in client/dist; say so explicitly rather than rely on
  // import.meta.url surviving bundling
  maplibregl.setWorkerUrl(new URL('maplibre-gl-worker.mjs', document.baseURI).href);
  const map = new maplibregl.Map({
    container,
    style: offlineStyle,
    center: [0, 0],
    zoom: 1,
    maxZoom: 23,
    attributionControl: false,
    // a screenshot or test can read the canvas back
    canvasContextAttributes: { preserveDrawingBuffer: true },
    keyboard: true,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-left');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
  return map;
}

export function fitBbox(map: MapLibreMap, bbox: Bbox, animate = true): void {
  map.fitBounds([[bbox[0], bbox[1]], [bbox[2], bbox[3]]], { padding: 24, animate, duration: animate ? 600 : 0 });
}

/** Absolute URL for a server path: tiles are fetched by web workers, which resolve differently. */
export function absolute(path: string): string {
  // string concatenation, not new URL(): URL would percent-encode the {z}/{x}/{y} placeholders
  return `${location.origin}${path.startsWith('/') ? '' : '/'}${path}`;
}

/** The id of the first layer drawn above `group`, so layers keep their order as they come and go. */
export const layerOrder = ['imagery', 'canopy', 'tree-crowns', 'tree-tops', 'region-fill', 'region-line', 'region-trees'] as const;

export function beforeIdFor(map: MapLibreMap, id: (typeof layerOrder)[number]): string | undefined {
  const i = layerOrder.indexOf(id);
  for (const next of layerOrder.slice(i + 1)) if (map.getLayer(next)) return next;
  // drawing layers (terra-draw) stay on top of everything
  return undefined;
}
