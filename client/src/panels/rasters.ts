import { canopyStatus, listModels, listRasters, startCanopy, uploadRaster, type RasterInfo, type SkippedFile } from '../api.ts';
import { fmt } from '../format.ts';
import type { Messages } from './messages.ts';

export interface RasterPanelElements {
  select: HTMLSelectElement;
  fit: HTMLButtonElement;
  meta: HTMLElement;
  /** Says which files of the data folder are missing from the list, and why. */
  skipped: HTMLDetailsElement;
  file: HTMLInputElement;
  upload: HTMLButtonElement;
  uploadProgress: HTMLProgressElement;
  uploadText: HTMLElement;
  model: HTMLSelectElement;
  canopy: HTMLButtonElement;
  canopyProgress: HTMLProgressElement;
  canopyText: HTMLElement;
}

const DONE = new Set(['done', 'ready', 'complete', 'completed', 'successful', 'succeeded', 'finished', 'cached']);
const FAILED = new Set(['failed', 'error', 'cancelled', 'dismissed']);

/** The raster chooser, GeoTIFF upload with progress, and the canopy computation button. */
export class RasterPanel {
  rasters: RasterInfo[] = [];
  /** Shows a raster; resolves once its layers are on the map. */
  onSelect: (r: RasterInfo) => void | Promise<void> = () => {};
  onFit: () => void = () => {};

  constructor(private readonly ui: RasterPanelElements, private readonly messages: Messages) {
    ui.select.addEventListener('change', () => {
      const r = this.rasters.find((x) => x.id === ui.select.value);
      if (r) this.onSelect(r);
    });
    ui.fit.addEventListener('click', () => this.onFit());
    ui.file.addEventListener('change', () => {
      ui.upload.disabled = !ui.file.files?.length;
    });
    ui.upload.addEventListener('click', () => void this.upload());
  }

  /** Fills the model chooser: the server's default first, test fixtures said to be so. */
  async loadModels(): Promise<void> {
    const sel = this.ui.model;
    sel.replaceChildren();
    try {
      const models = await listModels();
      models.sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || Number(a.testFixture) - Number(b.testFixture));
      for (const m of models) {
        const label = `${m.name}${m.version ? ` v${m.version}` : ''}${m.isDefault ? ' (default)' : ''}${m.testFixture ? ' (test fixture, not a real model)' : ''}`;
        sel.append(new Option(label, m.name));
      }
      if (!models.length) sel.append(new Option('No model installed', ''));
      sel.disabled = !models.length;
    } catch (err) {
      sel.append(new Option('Models unavailable', ''));
      sel.disabled = true;
      this.messages.error(err);
    }
  }

  async refresh(selectId?: string): Promise<RasterInfo | null> {
    try {
      const list = await listRasters();
      this.rasters = list.rasters;
      this.showSkipped(list.skipped);
    } catch (err) {
      this.messages.error(err);
      return null;
    }
    const sel = this.ui.select;
    const keep = selectId ?? sel.value;
    sel.replaceChildren();
    if (!this.rasters.length) {
      sel.append(new Option('No rasters yet: upload a GeoTIFF', ''));
      return null;
    }
    for (const r of this.rasters) sel.append(new Option(`${r.name}${r.role === 'chm' ? ' (canopy height)' : ''}`, r.id));
    // prefer imagery as the first view: the CHM and trees come with it
    const chosen = this.rasters.find((r) => r.id === keep) ?? this.rasters.find((r) => r.role !== 'chm') ?? this.rasters[0];
    sel.value = chosen.id;
    return chosen;
  }

  private showSkipped(skipped: SkippedFile[]): void {
    const box = this.ui.skipped;
    box.hidden = skipped.length === 0;
    const summary = document.createElement('summary');
    summary.textContent = `${skipped.length} ${skipped.length === 1 ? 'file' : 'files'} in the data folder could not be read`;
    const list = document.createElement('ul');
    for (const s of skipped) {
      const item = document.createElement('li');
      // the server's reason begins with the file's name: say it once, with its folder
      const name = s.file.slice(s.file.lastIndexOf('/') + 1);
      item.textContent = `${s.file}: ${s.reason.startsWith(`${name}: `) ? s.reason.slice(name.length + 2) : s.reason}`;
      list.append(item);
    }
    box.replaceChildren(summary, list);
  }

  describe(r: RasterInfo, chm: RasterInfo | null): void {
    const size = r.width && r.height ? `${r.width} × ${r.height} px` : '';
    const gsd = r.gsd ? `${fmt(r.gsd, 2)} m/px` : '';
    const bands = r.bands ? `${r.bands} band${r.bands === 1 ? '' : 's'}` : '';
    this.ui.meta.textContent = [size, gsd, bands, chm ? (chm.id === r.id ? 'canopy height model' : 'canopy height available') : 'no canopy height yet'].filter(Boolean).join(' · ');
    // a CHM registered beside the image (lidar, or a scene's truth) does not stop the model from
    // being run on it; one already computed from this image does
    const computed = this.rasters.some((x) => x.role === 'chm' && x.sourceId === r.id);
    this.ui.canopy.disabled = r.role === 'chm' || computed;
    this.ui.canopy.title = r.role === 'chm' ? 'This raster is a canopy height model'
      : computed ? 'The canopy height of this image is computed' : 'Run the canopy height model on this image';
  }

  private async upload(): Promise<void> {
    const file = this.ui.file.files?.[0];
    if (!file) return;
    this.ui.upload.disabled = true;
    this.ui.uploadProgress.hidden = false;
    this.ui.uploadProgress.value = 0;
    this.ui.uploadText.textContent = `Uploading ${file.name}…`;
    const { promise } = uploadRaster(file, (f) => {
      this.ui.uploadProgress.value = Math.round(f * 100);
      this.ui.uploadText.textContent = f < 1 ? `Uploading: ${Math.round(f * 100)} %` : 'Reading the raster…';
    });
    try {
      const r = await promise;
      const chosen = await this.refresh(r.id);
      if (chosen) await this.onSelect(chosen);
      // said once the upload is the selected raster, so the text never runs ahead of the map
      this.ui.uploadText.textContent = `Added ${r.name}.`;
    } catch (err) {
      this.ui.uploadText.textContent = 'Upload failed.';
      this.messages.error(err);
    } finally {
      this.ui.uploadProgress.hidden = true;
      this.ui.upload.disabled = !this.ui.file.files?.length;
    }
  }

  /** Starts the canopy computation for an image and follows it until the CHM is in the catalog. */
  async computeCanopy(imageId: string): Promise<void> {
    const ui = this.ui;
    ui.canopy.disabled = true;
    ui.canopyProgress.hidden = false;
    ui.canopyProgress.value = 0;
    ui.canopyText.textContent = 'Starting…';
    try {
      let s = await startCanopy(imageId, ui.model.value || null);
      while (!DONE.has(s.state) && !FAILED.has(s.state)) {
        ui.canopyProgress.value = s.progress;
        ui.canopyText.textContent = `Canopy height: ${Math.round(s.progress)} %${s.message ? ` (${s.message})` : ''}`;
        await new Promise((r) => setTimeout(r, 1500));
        s = await canopyStatus(imageId);
      }
      if (FAILED.has(s.state)) throw new Error(`The canopy computation ${s.state}: ${s.message || 'no reason given'}`);
      const chosen = await this.refresh(imageId);
      if (chosen) await this.onSelect(chosen);
      // said only once the new CHM is on the map, so what the text claims is what the user sees
      ui.canopyText.textContent = 'Canopy height ready.';
    } catch (err) {
      ui.canopyText.textContent = '';
      ui.canopy.disabled = false;
      this.messages.error(err);
    } finally {
      ui.canopyProgress.hidden = true;
    }
  }
}
