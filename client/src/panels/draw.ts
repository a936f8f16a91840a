import type { Map as MapLibreMap } from 'maplibre-gl';
import type { MultiPolygon, Polygon } from 'geojson';
import { TerraDraw, TerraDrawPolygonMode, TerraDrawRectangleMode } from 'terra-draw';
import { TerraDrawMapLibreGLAdapter } from 'terra-draw-maplibre-gl-adapter';

export type DrawTool = 'polygon' | 'rectangle';

/**
 * Region drawing with terra-draw: one region at a time; finishing a shape leaves drawing mode so
 * the map is a map again (clicks select trees).
 */
export class RegionDrawing {
  private readonly draw: TerraDraw;
  private tool: DrawTool | null = null;
  private region: Polygon | MultiPolygon | null = null;
  /** What a loaded file held (its features, ids and properties), sent as the job's region. */
  private loadedDocument: unknown = null;
  private listeners: Array<(region: Polygon | MultiPolygon | null, tool: DrawTool | null) => void> = [];

  constructor(map: MapLibreMap) {
    const style = { fillColor: '#0b57d0', outlineColor: '#0b57d0', outlineWidth: 2, fillOpacity: 0.12 } as const;
    this.draw = new TerraDraw({
      adapter: new TerraDrawMapLibreGLAdapter({ map }),
      modes: [
        new TerraDrawPolygonMode({ styles: style as never }),
        new TerraDrawRectangleMode({ styles: style as never }),
      ],
    });
    this.draw.start();
    this.draw.on('finish', (id) => {
      const feature = this.draw.getSnapshotFeature(id);
      if (!feature || feature.geometry.type !== 'Polygon') return;
      // keep only the shape just finished: a region is one polygon
      const others = this.draw.getSnapshot().filter((f) => f.id !== id).map((f) => f.id!);
      if (others.length) this.draw.removeFeatures(others);
      this.region = { type: 'Polygon', coordinates: feature.geometry.coordinates as Polygon['coordinates'] };
      this.loadedDocument = null;
      this.finishedAt = performance.now();
      this.setTool(null);
    });
  }

  private finishedAt = -Infinity;

  /**
   * True while drawing, and for a moment after a shape is finished: the click that closes a shape
   * also reaches the map, and must not open a tree popup.
   */
  get drawing(): boolean {
    return this.tool !== null || performance.now() - this.finishedAt < 400;
  }

  get current(): Polygon | MultiPolygon | null {
    return this.region;
  }

  /**
   * The region as a job should get it: a loaded file's document, whose features the job reports
   * on one by one (a stands layer), or the drawn shape.
   */
  get request(): unknown {
    return this.loadedDocument ?? this.region;
  }

  onChange(fn: (region: Polygon | MultiPolygon | null, tool: DrawTool | null) => void): void {
    this.listeners.push(fn);
  }

  setTool(tool: DrawTool | null): void {
    this.tool = tool;
    this.draw.setMode(tool ?? 'static');
    for (const fn of this.listeners) fn(this.region, this.tool);
  }

  /**
   * A region from elsewhere (a loaded file, `fileDocument` as the file held it, `region` as the
   * server read it): it replaces any drawn shape, which would no longer be the region.
   */
  load(region: MultiPolygon, fileDocument: unknown = null): void {
    this.draw.clear();
    this.region = region;
    this.loadedDocument = fileDocument;
    this.setTool(null);
  }

  clear(): void {
    this.draw.clear();
    this.region = null;
    this.loadedDocument = null;
    this.setTool(null);
  }
}
