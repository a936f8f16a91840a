import type { Map as MapLibreMap } from 'maplibre-gl';
import type { FeatureCollection, MultiPolygon, Polygon } from 'geojson';
import { beforeIdFor } from '../map.ts';
import { applyTo, el, type MapLayer } from './layer.ts';
import { heightColourExpression } from './trees.ts';

const REGION_SOURCE = 'region';
const TREES_SOURCE = 'region-trees';
const empty: FeatureCollection = { type: 'FeatureCollection', features: [] };

/** The processed region's outline and the trees its job found (from the job's GeoJSON result). */
export class RegionLayer implements MapLayer {
  readonly key = 'region';
  readonly title = 'Region results';
  visible = true;
  opacity = 1;
  private hasRegion = false;

  available(): boolean {
    return this.hasRegion;
  }

  private ensure(map: MapLibreMap): void {
    if (!map.getSource(REGION_SOURCE)) map.addSource(REGION_SOURCE, { type: 'geojson', data: empty });
    if (!map.getSource(TREES_SOURCE)) map.addSource(TREES_SOURCE, { type: 'geojson', data: empty });
    if (!map.getLayer('region-fill')) map.addLayer({ id: 'region-fill', type: 'fill', source: REGION_SOURCE, paint: { 'fill-color': '#0b57d0', 'fill-opacity': 0.08 } }, beforeIdFor(map, 'region-fill'));
    if (!map.getLayer('region-line')) map.addLayer({ id: 'region-line', type: 'line', source: REGION_SOURCE, paint: { 'line-color': '#0b57d0', 'line-width': 2.5, 'line-dasharray': [2, 1] } }, beforeIdFor(map, 'region-line'));
    if (!map.getLayer('region-trees')) map.addLayer({
      id: 'region-trees', type: 'circle', source: TREES_SOURCE,
      paint: { 'circle-radius': ['interpolate', ['linear'], ['zoom'], 14, 1.5, 19, 5], 'circle-color': heightColourExpression(), 'circle-stroke-color': '#0b57d0', 'circle-stroke-width': 1 },
    }, beforeIdFor(map, 'region-trees'));
  }

  showRegion(map: MapLibreMap, region: Polygon | MultiPolygon | null): void {
    this.ensure(map);
    this.hasRegion = region !== null;
    (map.getSource(REGION_SOURCE) as any).setData(region ? { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: region, properties: {} }] } : empty);
    if (!region) (map.getSource(TREES_SOURCE) as any).setData(empty);
    this.apply(map);
  }

  showTrees(map: MapLibreMap, trees: FeatureCollection): void {
    this.ensure(map);
    (map.getSource(TREES_SOURCE) as any).setData(trees);
    this.apply(map);
  }

  apply(map: MapLibreMap): void {
    applyTo(map, [['region-line', ['line-opacity']], ['region-trees', ['circle-opacity', 'circle-stroke-opacity']]], this.visible, this.opacity);
    applyTo(map, [['region-fill', []]], this.visible, this.opacity);
  }

  legend(): HTMLElement {
    return el('div', { class: 'legend' }, 'Dashed blue: the region loaded or processed; blue-ringed dots: the trees its job found.');
  }
}
