/**
 * The web map: wires the map, its layers and the panels together. Each piece lives in its own
 * module; this file only decides what happens when the user picks a raster or finishes a region.
 */
import { checkRegion, treesStatus, type RasterInfo } from './api.ts';
import { fmt } from './format.ts';
import { chmFor, imageFor, nativeZoom } from './catalog.ts';
import { CanopyLayer } from './layers/canopy.ts';
import { ImageryLayer } from './layers/imagery.ts';
import { RegionLayer } from './layers/region.ts';
import { TreesLayer } from './layers/trees.ts';
import { createMap, fitBbox } from './map.ts';
import { RegionDrawing, type DrawTool } from './panels/draw.ts';
import { installHoverReadout } from './panels/hover.ts';
import { JobPanel } from './panels/job.ts';
import { renderJobsList } from './panels/jobs.ts';
import { renderLayersPanel } from './panels/layers.ts';
import { Messages } from './panels/messages.ts';
import { RasterPanel } from './panels/rasters.ts';
import { installTreeInfo } from './panels/tree-info.ts';

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page is missing #${id}`);
  return e as T;
}

const messages = new Messages($('messages'));
const map = createMap($('map'));
map.on('error', (e) => {
  // tile and source errors reach the user in words; the map keeps working
  const err = (e as unknown as { error?: Error }).error;
  messages.error(new Error(`The map could not load some data: ${err?.message ?? 'unknown error'}`));
});

const imagery = new ImageryLayer();
const canopy = new CanopyLayer();
const trees = new TreesLayer();
const region = new RegionLayer();
const layers = [imagery, canopy, trees, region];

const rasterPanel = new RasterPanel({
  select: $('raster-select'), fit: $('raster-fit'), meta: $('raster-meta'), skipped: $('raster-skipped'), file: $('upload-file'), upload: $('upload-start'),
  uploadProgress: $('upload-progress'), uploadText: $('upload-text'), model: $('model-select'), canopy: $('canopy-start'), canopyProgress: $('canopy-progress'),
  canopyText: $('canopy-text'),
}, messages);

let current: { image: RasterInfo; chm: RasterInfo | null } | null = null;

async function select(r: RasterInfo, fit = true): Promise<void> {
  const all = rasterPanel.rasters;
  const image = imageFor(r, all);
  const chm = chmFor(r, all);
  current = { image, chm };
  const lat = image.bounds ? (image.bounds[1] + image.bounds[3]) / 2 : 0;
  await imagery.show(map, image, nativeZoom(image.gsd, lat));
  canopy.show(map, chm, nativeZoom(chm?.gsd ?? image.gsd, lat));
  trees.show(map, chm?.id ?? null, chm?.version ?? '', lat);
  if (chm) void followTreeDetection(chm, lat);
  else {
    treeWatch++; // stop following the previous raster's trees
    $('trees-status').textContent = 'No canopy height for this raster yet: its trees appear once it is computed.';
  }
  rasterPanel.describe(r, chm);
  renderLayersPanel($('layer-list'), map, layers);
  if (fit && image.bounds) fitBbox(map, image.bounds, false);
  updateRunButton();
}

/**
 * Trees are detected in the background once a CHM exists. Until they are done the tree tiles are
 * empty; when they are, the source is re-added under a new version so the map fetches them.
 */
let treeWatch = 0;
async function followTreeDetection(chm: RasterInfo, lat: number): Promise<void> {
  const mine = ++treeWatch;
  const note = $('trees-status');
  let waited = false;
  for (;;) {
    let s;
    try {
      s = await treesStatus(chm.id);
    } catch (err) {
      messages.error(err);
      return;
    }
    if (mine !== treeWatch) return;
    if (s.state === 'done') {
      note.textContent = `${s.trees.toLocaleString('en-GB')} trees detected.`;
      if (waited) trees.show(map, chm.id, `${chm.version}-${s.trees}`, lat);
      document.body.dataset.trees = 'done';
      return;
    }
    if (s.state === 'failed') {
      note.textContent = '';
      messages.error(new Error(`Tree detection failed: ${s.error ?? 'no reason given'}`));
      return;
    }
    waited = true;
    note.textContent = `Detecting trees: ${Math.round(s.progress * 100)} %`;
    await new Promise((r) => setTimeout(r, 1500));
  }
}

rasterPanel.onSelect = (r) => select(r).catch((err) => messages.error(err));
rasterPanel.onFit = () => {
  if (current?.image.bounds) fitBbox(map, current.image.bounds);
};
$<HTMLButtonElement>('canopy-start').addEventListener('click', () => {
  if (current) void rasterPanel.computeCanopy(current.image.id);
});

let drawing: RegionDrawing | null = null;

/**
 * A stand boundary from a file: the server reads it as a job would (WGS84 or a named CRS, validity,
 * limits) and says why it refuses one; the map then shows it as the region to run.
 */
async function loadRegionFile(file: File): Promise<void> {
  let doc: unknown;
  try {
    doc = JSON.parse(await file.text());
  } catch {
    throw new Error(`${file.name} is not GeoJSON (a shapefile or KML converts with: ogr2ogr -f GeoJSON region.geojson IN)`);
  }
  const loaded = await checkRegion(doc);
  drawing!.load(loaded.geometry, doc);
  region.showRegion(map, loaded.geometry);
  fitBbox(map, loaded.bbox);
  const area = loaded.areaHa === null ? '' : `, ${fmt(loaded.areaHa, 2, 'ha')}`;
  messages.info(loaded.features > 1
    ? `${file.name}: ${loaded.features} features${area}. A job gives the statistics of each, and of them together.`
    : `${file.name}: loaded${area}.`);
  renderLayersPanel($('layer-list'), map, layers);
}
const runButton = $<HTMLButtonElement>('job-run');
function updateRunButton(): void {
  runButton.disabled = !(current && drawing?.current);
  runButton.title = !current ? 'Choose a raster first' : !drawing?.current ? 'Draw a region first' : 'Compute trees and statistics for the region';
}

const jobPanel = new JobPanel({
  run: runButton, cancel: $('job-cancel'), progress: $('job-progress'), text: $('job-text'), results: $('job-results'),
  stats: $('job-stats'), histogram: $('job-histogram'), parts: $('job-parts'), downloads: $('job-downloads'),
}, map, region, messages);
const refreshJobs = () => renderJobsList($('jobs-list'), messages, (job) => void jobPanel.open(job));
jobPanel.onFinished = () => {
  renderLayersPanel($('layer-list'), map, layers);
  void refreshJobs();
};
runButton.addEventListener('click', () => {
  // the region is computed from the canopy height on show (a lidar CHM, or one already inferred),
  // so its trees match the map; without one the job infers canopy height from the imagery
  const source = current?.chm ?? current?.image;
  const model = source?.role === 'chm' ? null : $<HTMLSelectElement>('model-select').value || null;
  if (source && drawing?.current) void jobPanel.run(source.id, drawing.current, model, drawing.request).then(() => renderLayersPanel($('layer-list'), map, layers));
});
$('jobs-refresh').addEventListener('click', () => void refreshJobs());

const toolButtons: Record<DrawTool, HTMLButtonElement> = { polygon: $('draw-polygon'), rectangle: $('draw-rectangle') };
const hint = $('draw-hint');

map.on('load', async () => {
  drawing = new RegionDrawing(map);
  drawing.onChange((_region, tool) => {
    for (const [name, button] of Object.entries(toolButtons)) button.setAttribute('aria-pressed', String(name === tool));
    hint.hidden = tool === null;
    hint.textContent = tool === 'polygon'
      ? 'Click to add corners; click the first corner to close the polygon.'
      : tool === 'rectangle' ? 'Click one corner, then the opposite corner.' : '';
    updateRunButton();
  });
  for (const [name, button] of Object.entries(toolButtons) as Array<[DrawTool, HTMLButtonElement]>) {
    button.addEventListener('click', () => drawing!.setTool(button.getAttribute('aria-pressed') === 'true' ? null : name));
  }
  $('draw-clear').addEventListener('click', () => {
    drawing!.clear();
    region.showRegion(map, null);
  });
  const regionFile = $<HTMLInputElement>('region-file');
  regionFile.addEventListener('change', () => {
    const file = regionFile.files?.[0];
    if (file) void loadRegionFile(file).catch((err) => messages.error(err)).finally(() => { regionFile.value = ''; });
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && drawing?.drawing) drawing.setTool(null);
  });
  installTreeInfo(map, () => drawing?.drawing ?? false);
  installHoverReadout(map, $('hover-readout'), () => current?.chm?.id ?? null, messages);

  void rasterPanel.loadModels();
  let first = await rasterPanel.refresh();
  renderLayersPanel($('layer-list'), map, layers);
  // a fresh demo server registers its scene a few seconds after start: wait for it
  while (!first && rasterPanel.rasters.length === 0) {
    await new Promise((r) => setTimeout(r, 3000));
    first = await rasterPanel.refresh();
  }
  if (first) await select(first);
  void refreshJobs();
  document.body.dataset.ready = 'true';
});

// a handle for the end-to-end tests and the screenshot script (read-only use)
(window as unknown as { forestmap: unknown }).forestmap = { map, layers, get current() { return current; }, get region() { return drawing?.current ?? null; } };
