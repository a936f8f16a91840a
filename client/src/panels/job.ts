import type { Map as MapLibreMap } from 'maplibre-gl';
import type { FeatureCollection, MultiPolygon, Polygon } from 'geojson';
import { cancelJob, getJob, getJobResults, requestJson, resultUrl, startForestMap, type JobInfo, type RegionStats } from '../api.ts';
import { fmt, fmtInt, fmtPercent } from '../format.ts';
import type { RegionLayer } from '../layers/region.ts';
import { histogramSvg } from './histogram.ts';
import type { Messages } from './messages.ts';

const TERMINAL = new Set(['successful', 'failed', 'dismissed']);

export interface JobPanelElements {
  run: HTMLButtonElement;
  cancel: HTMLButtonElement;
  progress: HTMLProgressElement;
  text: HTMLElement;
  results: HTMLElement;
  stats: HTMLElement;
  histogram: HTMLElement;
  /** Where a region of several features gets its table of each feature's figures. */
  parts: HTMLElement;
  downloads: HTMLElement;
}

/**
 * Runs the forest-map process for the drawn region and follows it: progress bar, then statistics,
 * the height histogram, download links, and the region's trees on the map.
 */
export class JobPanel {
  private jobId: string | null = null;
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  onFinished: () => void = () => {};

  constructor(
    private readonly ui: JobPanelElements,
    private readonly map: MapLibreMap,
    private readonly regionLayer: RegionLayer,
    private readonly messages: Messages,
    private readonly pollMs = 1000,
  ) {
    ui.cancel.addEventListener('click', () => void this.cancel());
  }

  /** `request`: the region as the job gets it (a loaded file's features), when not just `region`. */
  async run(rasterId: string, region: Polygon | MultiPolygon, model: string | null, request: unknown = region): Promise<void> {
    this.stopPolling();
    this.ui.results.hidden = true;
    this.ui.run.disabled = true;
    this.setProgress(0, 'Starting…');
    this.regionLayer.showRegion(this.map, region);
    try {
      this.jobId = await startForestMap({ raster: rasterId, region: request, model });
      this.ui.cancel.hidden = false;
      await this.poll();
    } catch (err) {
      this.messages.error(err);
      this.setProgress(null, 'The job could not start.');
      this.ui.run.disabled = false;
    }
  }

  /** Shows a job from the past jobs list. */
  async open(job: JobInfo): Promise<void> {
    this.stopPolling();
    this.jobId = job.jobID;
    this.ui.results.hidden = true;
    if (TERMINAL.has(job.status)) await this.show(job);
    else {
      this.ui.cancel.hidden = false;
      await this.poll();
    }
  }

  private async poll(): Promise<void> {
    if (!this.jobId) return;
    const id = this.jobId;
    try {
      const job = await getJob(id);
      if (id !== this.jobId) return;
      if (TERMINAL.has(job.status)) {
        await this.show(job);
        return;
      }
      this.setProgress(job.progress, `${job.status === 'accepted' ? 'Queued' : 'Running'}: ${fmt(job.progress, 0)} %${job.message ? ` (${job.message})` : ''}`);
    } catch (err) {
      this.messages.error(err);
    }
    this.pollTimer = setTimeout(() => void this.poll(), this.pollMs);
  }

  private async show(job: JobInfo): Promise<void> {
    this.ui.cancel.hidden = true;
    this.ui.run.disabled = false;
    if (job.status === 'failed') {
      this.setProgress(null, 'Failed.');
      this.messages.error(new Error(`The region job failed: ${job.message || 'no reason given'}`));
      this.onFinished();
      return;
    }
    if (job.status === 'dismissed') {
      this.setProgress(null, 'Cancelled.');
      this.onFinished();
      return;
    }
    this.setProgress(100, 'Done.');
    try {
      const { statistics: stats, region } = await getJobResults(job.jobID);
      // a job reopened from the list draws the region it processed, not whatever was drawn last
      if (region) this.regionLayer.showRegion(this.map, region);
      this.renderStats(stats);
      this.renderDownloads(job.jobID);
      this.ui.results.hidden = false;
      const { body: trees } = await requestJson<FeatureCollection>(resultUrl(job.jobID, 'trees'), 'Loading the region trees');
      this.regionLayer.showTrees(this.map, trees);
      this.ui.text.textContent = `Done: ${fmtInt(trees.features.length)} trees.`;
    } catch (err) {
      this.messages.error(err);
    }
    this.onFinished();
  }

  private async cancel(): Promise<void> {
    if (!this.jobId) return;
    try {
      await cancelJob(this.jobId);
      this.messages.info('Cancelling the job…');
    } catch (err) {
      this.messages.error(err);
    }
  }

  private stopPolling(): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  private setProgress(value: number | null, text: string): void {
    this.ui.progress.hidden = value === null;
    if (value !== null) {
      this.ui.progress.value = value;
      this.ui.progress.setAttribute('aria-valuetext', `${Math.round(value)} %`);
    }
    this.ui.text.textContent = text;
  }

  private renderStats(s: RegionStats): void {
    const dl = this.ui.stats;
    dl.replaceChildren();
    const h = s.tree_height_m;
    const rows: Array<[string, string, string]> = [
      ['area_ha', 'Area', fmt(s.area_ha, 2, 'ha')],
      ['tree_count', 'Trees', fmtInt(s.tree_count)],
      ['trees_per_ha', 'Trees per ha', fmt(s.trees_per_ha, 0)],
      ['canopy_cover_2m', 'Canopy cover > 2 m', fmtPercent(s.canopy_cover_2m)],
      ['canopy_cover_5m', 'Canopy cover > 5 m', fmtPercent(s.canopy_cover_5m)],
      ['height_mean', 'Mean tree height', fmt(h?.mean, 1, 'm')],
      ['height_median', 'Median tree height', fmt(h?.median, 1, 'm')],
      ['height_p95', '95th percentile', fmt(h?.p95, 1, 'm')],
      ['height_max', 'Tallest tree', fmt(h?.max, 1, 'm')],
    ];
    // a region drawn past the imagery's edge: say how much of it the numbers cover (trees per ha
    // is over that part)
    if (typeof s.data_coverage === 'number' && s.data_coverage < 0.995) rows.splice(1, 0, ['data_coverage', 'Imagery covers', fmtPercent(s.data_coverage)]);
    for (const [key, label, value] of rows) {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.dataset.stat = key;
      dd.textContent = value;
      dl.append(dt, dd);
    }
    this.renderParts(s.parts ?? []);
    const hist = s.height_histogram;
    if (hist && Array.isArray(hist.counts) && hist.counts.length) {
      this.ui.histogram.innerHTML = histogramSvg({ counts: hist.counts, edges: hist.edges_m, bin_width: hist.bin_width_m });
    } else this.ui.histogram.textContent = 'No trees in this region.';
  }

  /** One row per feature of the region (a stand of a stands layer): its own figures. */
  private renderParts(parts: NonNullable<RegionStats['parts']>): void {
    const box = this.ui.parts;
    box.replaceChildren();
    box.hidden = parts.length === 0;
    if (!parts.length) return;
    const heading = document.createElement('h3');
    heading.textContent = 'Per feature';
    const table = document.createElement('table');
    table.className = 'parts';
    const head = table.createTHead().insertRow();
    for (const label of ['Feature', 'Area (ha)', 'Trees', 'Trees per ha', 'Cover > 2 m', 'Mean height (m)']) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = label;
      head.append(th);
    }
    const body = table.createTBody();
    for (const part of parts) {
      const s = part.statistics;
      const row = body.insertRow();
      const values = [partLabel(part), fmt(s.area_ha, 2), fmtInt(s.tree_count), fmt(s.trees_per_ha, 0), fmtPercent(s.canopy_cover_2m), fmt(s.tree_height_m?.mean, 1)];
      for (const v of values) row.insertCell().textContent = v;
    }
    box.append(heading, table);
  }

  private renderDownloads(jobId: string): void {
    const items: Array<[string, 'trees' | 'crowns' | 'chm', string]> = [
      ['Trees (GeoJSON)', 'trees', `trees-${jobId}.geojson`],
      ['Crowns (GeoJSON)', 'crowns', `crowns-${jobId}.geojson`],
      ['Canopy height (GeoTIFF)', 'chm', `chm-${jobId}.tif`],
    ];
    this.ui.downloads.replaceChildren();
    for (const [label, output, filename] of items) {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = resultUrl(jobId, output);
      a.download = filename;
      a.dataset.output = output;
      a.textContent = label;
      li.append(a);
      this.ui.downloads.append(li);
    }
  }
}

/** What a feature is called: its id, else its name, else its first text or number attribute, else its place in the file. */
export function partLabel(part: { feature: number; id: string | number | null; properties: Record<string, unknown> | null }): string {
  if (part.id !== null) return String(part.id);
  const props = part.properties ?? {};
  if (typeof props.name === 'string' || typeof props.name === 'number') return String(props.name);
  const first = Object.values(props).find((v) => typeof v === 'string' || typeof v === 'number');
  return first !== undefined ? String(first) : `feature ${part.feature + 1}`;
}
