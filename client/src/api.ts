/**
 * The typed HTTP client for the forestmap server. Every failure becomes an ApiError whose message
 * is a sentence a user can act on: the server's own JSON `error` text when it sent one, else a
 * description of what went wrong on the way (offline, timeout, unexpected reply).
 */
import type { MultiPolygon } from 'geojson';

export type Bbox = [number, number, number, number];

/** One raster of the catalog, normalised from GET /api/rasters. */
export interface RasterInfo {
  id: string;
  name: string;
  /** 'image' for RGB imagery, 'chm' for a canopy height model; other roles pass through. */
  role: string;
  /** WGS84 [west, south, east, north]. */
  bounds: Bbox | null;
  width: number;
  height: number;
  bands: number;
  gsd: number | null;
  /** The raster this one was derived from (a CHM's image), when the server says. */
  sourceId: string | null;
  /** Changes when the raster is replaced or recomputed; used to bust tile caches. */
  version: string;
}

export type JobStatus = 'accepted' | 'running' | 'successful' | 'failed' | 'dismissed';

export interface JobInfo {
  jobID: string;
  status: JobStatus;
  progress: number;
  message: string;
  created: string | null;
  updated: string | null;
  processID: string | null;
  links: Array<{ href: string; rel?: string; type?: string; title?: string }>;
}

export interface HeightSummary {
  mean: number | null;
  median: number | null;
  p95: number | null;
  max: number | null;
}

/** The `stats` output of the forest-map process (server/features/stats.ts). */
export interface RegionStats {
  area_ha?: number;
  /** Share of the region with canopy height data (below 1 past the imagery's edge or over nodata). */
  data_coverage?: number | null;
  tree_count?: number;
  trees_per_ha?: number;
  canopy_cover_2m?: number | null;
  canopy_cover_5m?: number | null;
  tree_height_m?: HeightSummary;
  canopy_height_m?: HeightSummary;
  height_histogram?: { bin_width_m?: number; edges_m?: number[]; counts: number[] };
  /** Each feature's statistics, for a region given as a FeatureCollection of several. */
  parts?: Array<{ feature: number; id: string | number | null; properties: Record<string, unknown> | null; statistics: RegionStats }>;
}

export interface CanopyStatus {
  state: string;
  progress: number;
  message: string;
  chmId: string | null;
}

export class ApiError extends Error {
  constructor(message: string, readonly status: number, readonly details?: unknown) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The words shown for a failed response: the server's message, else a status description. */
export function errorMessageFrom(status: number, body: unknown, what: string): string {
  const b = body as { error?: unknown; detail?: unknown; title?: unknown; message?: unknown } | null;
  const text = [b?.error, b?.detail, b?.message, b?.title].find((v) => typeof v === 'string' && v.trim().length > 0) as string | undefined;
  if (text) return `${what}: ${text}`;
  const generic: Record<number, string> = {
    400: 'the request was not accepted', 404: 'it was not found', 409: 'it conflicts with the current state',
    413: 'it is too large', 415: 'the file type is not supported', 422: 'the file could not be read as a raster',
    429: 'the server is busy, try again shortly', 500: 'the server failed', 502: 'the server is unreachable',
    503: 'the server is unavailable', 504: 'the server took too long',
  };
  return `${what}: ${generic[status] ?? `the server answered ${status}`}`;
}

async function readBody(res: Response): Promise<unknown> {
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try {
      return await res.json();
    } catch {
      return null;
    }
  }
  // a plain-text reason is worth showing; an HTML error page is not
  const text = type.includes('text/plain') ? (await res.text().catch(() => '')).trim() : '';
  return text && text.length <= 300 ? { error: text } : null;
}

/** fetch + JSON + words for every failure. `what` names the action for the message. */
export async function requestJson<T>(url: string, what: string, init: RequestInit = {}): Promise<{ body: T; response: Response }> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    if ((err as Error)?.name === 'AbortError') throw err;
    throw new ApiError(`${what}: the server could not be reached (${(err as Error)?.message ?? 'network error'})`, 0);
  }
  const body = res.status === 204 ? null : await readBody(res);
  if (!res.ok) throw new ApiError(errorMessageFrom(res.status, body, what), res.status, body);
  return { body: body as T, response: res };
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function bboxFrom(v: unknown): Bbox | null {
  return Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as Bbox) : null;
}

/** A catalog record (server/http/routes/rasters.ts `rasterJson`) as the map uses it. */
export function normaliseRaster(r: Record<string, any>): RasterInfo {
  return {
    id: String(r.id),
    name: String(r.name ?? r.id),
    role: typeof r.role === 'string' ? r.role : 'image',
    bounds: bboxFrom(r.wgs84Bounds),
    width: num(r.width) ?? 0,
    height: num(r.height) ?? 0,
    bands: num(r.bandCount) ?? 0,
    gsd: num(r.gsd),
    sourceId: typeof r.sourceId === 'string' ? r.sourceId : null,
    version: String(r.version ?? ''),
  };
}

/** A file of the server's data folder it could not read at start, and why. */
export interface SkippedFile {
  file: string;
  reason: string;
}

export async function listRasters(): Promise<{ rasters: RasterInfo[]; skipped: SkippedFile[] }> {
  const { body } = await requestJson<unknown>('/api/rasters', 'Loading the raster list');
  const list = (body as { rasters?: unknown[] })?.rasters ?? [];
  const skipped = (body as { skipped?: unknown[] })?.skipped ?? [];
  return {
    rasters: (list as Record<string, any>[]).map(normaliseRaster),
    skipped: (Array.isArray(skipped) ? skipped as Record<string, unknown>[] : []).map((s) => ({ file: String(s?.file ?? ''), reason: String(s?.reason ?? '') })),
  };
}

/** Band values at a WGS84 point; null where the raster has no data there. */
export async function pointValue(rasterId: string, lon: number, lat: number, signal?: AbortSignal): Promise<number | null> {
  const url = `/api/rasters/${encodeURIComponent(rasterId)}/point?lon=${lon.toFixed(7)}&lat=${lat.toFixed(7)}`;
  try {
    const { body } = await requestJson<any>(url, 'Reading the canopy height', { signal });
    const v = Array.isArray(body?.values) ? body.values[0] : null;
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  } catch (err) {
    // outside the raster is not an error to the user: there is just no height there
    if (err instanceof ApiError && (err.status === 404 || err.status === 400 || err.status === 204)) return null;
    throw err;
  }
}

function normaliseJob(j: Record<string, any>): JobInfo {
  return {
    jobID: String(j.jobID ?? j.id),
    status: j.status,
    progress: num(j.progress) ?? 0,
    message: typeof j.message === 'string' ? j.message : '',
    created: j.created ?? null,
    updated: j.updated ?? null,
    processID: j.processID ?? null,
    links: Array.isArray(j.links) ? j.links : [],
  };
}

export interface ProcessRequest {
  raster: string;
  /** A geometry, or a region file's document as loaded (checked by the server: checkRegion). */
  region: unknown;
  /** Canopy height model for an image without a CHM; null: the server's default. */
  model: string | null;
}

/**
 * Tree detection options for region jobs: the same as the server's background detection that
 * feeds the map's tree layer (server/trees/service.ts SERVER_TREE_OPTIONS), so a region's results
 * match the trees on the map.
 */
export const MAP_TREE_OPTIONS = { algorithm: 'dalponte', ws: '0.07*h+3', hmin: 2 } as const;

/** Starts the forest-map process asynchronously; returns the job id. */
export async function startForestMap(req: ProcessRequest): Promise<string> {
  const { body, response } = await requestJson<any>('/processes/forest-map/execution', 'Starting the region job', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Prefer: 'respond-async' },
    body: JSON.stringify({ inputs: { raster: req.raster, region: req.region, ...(req.model ? { model: req.model } : {}), ...MAP_TREE_OPTIONS }, outputs: {} }),
  });
  const location = response.headers.get('location');
  const id = body?.jobID ?? body?.id ?? location?.split('/').pop();
  if (!id) throw new ApiError('Starting the region job: the server did not say which job it started', response.status);
  return String(id);
}

/**
 * A region file's GeoJSON as the forest-map process takes it (server/http/routes/regions.ts): WGS84,
 * one MultiPolygon, with its bbox; the server says in words why a file is refused.
 */
export async function checkRegion(doc: unknown): Promise<{ geometry: GeoJSON.MultiPolygon; bbox: Bbox; areaHa: number | null; features: number }> {
  const { body } = await requestJson<any>('/api/regions', 'Loading the region', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(doc),
  });
  const bbox = bboxFrom(body?.bbox);
  if (body?.geometry?.type !== 'MultiPolygon' || !bbox) throw new ApiError('Loading the region: the server answered without a region', 200, body);
  const parts = body?.properties?.parts;
  return { geometry: body.geometry, bbox, areaHa: num(body?.properties?.area_ha), features: Array.isArray(parts) ? parts.length : 1 };
}

export async function getJob(id: string): Promise<JobInfo> {
  const { body } = await requestJson<Record<string, any>>(`/jobs/${encodeURIComponent(id)}`, 'Checking the job');
  return normaliseJob(body);
}

export async function listJobs(): Promise<JobInfo[]> {
  const { body } = await requestJson<any>('/jobs', 'Loading past jobs');
  const list = body?.jobs ?? [];
  return (list as Record<string, any>[]).map(normaliseJob);
}

export async function cancelJob(id: string): Promise<void> {
  await requestJson(`/jobs/${encodeURIComponent(id)}`, 'Cancelling the job', { method: 'DELETE' });
}

/** The statistics of a finished job, inline in its OGC results document. */
/** A finished job's statistics and the region it processed (WGS84). */
export async function getJobResults(id: string): Promise<{ statistics: RegionStats; region: MultiPolygon | null }> {
  const { body } = await requestJson<{ statistics?: RegionStats; region?: MultiPolygon }>(`/jobs/${encodeURIComponent(id)}/results`, 'Loading the job results');
  if (!body?.statistics) throw new ApiError('Loading the job results: the server sent no statistics', 200);
  return { statistics: body.statistics, region: body.region ?? null };
}

/** Result files of the forest-map process, by output name (server/jobs/process.forest-map.ts). */
export const RESULT_FILES = { stats: 'stats.json', trees: 'trees.geojson', crowns: 'crowns.geojson', chm: 'chm.tif' } as const;

export function resultUrl(jobId: string, output: keyof typeof RESULT_FILES): string {
  return `/jobs/${encodeURIComponent(jobId)}/results/${RESULT_FILES[output]}`;
}

function normaliseCanopy(body: any): CanopyStatus {
  // server/chm/service.ts: progress is {done, total, etaSeconds}
  const p = body?.progress;
  const progress = typeof p === 'number' ? p : p && p.total > 0 ? (100 * p.done) / p.total : 0;
  const eta = num(p?.etaSeconds);
  return {
    state: String(body?.state ?? 'unknown'),
    progress,
    message: typeof body?.error === 'string' && body.error ? body.error : eta !== null ? `about ${Math.ceil(eta)} s left` : '',
    chmId: typeof body?.chmId === 'string' ? body.chmId : null,
  };
}

/** Starts (or joins) the canopy height computation for an image raster; model null: the server's default. */
export async function startCanopy(rasterId: string, model: string | null): Promise<CanopyStatus> {
  const { body } = await requestJson<any>(`/api/rasters/${encodeURIComponent(rasterId)}/canopy`, 'Starting the canopy computation', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(model ? { model } : {}),
  });
  return normaliseCanopy(body);
}

export interface ModelInfo {
  name: string;
  version: string;
  isDefault: boolean;
  /** A model with random weights for tests: runs, but predicts nothing real. */
  testFixture: boolean;
}

/** The installed canopy height models (GET /api/models). */
export async function listModels(): Promise<ModelInfo[]> {
  const { body } = await requestJson<{ models?: Array<Record<string, any>> }>('/api/models', 'Loading the canopy height models');
  return (body?.models ?? []).map((m) => ({ name: String(m.name), version: String(m.version ?? ''), isDefault: m.default === true, testFixture: m.testFixture === true }));
}

export async function canopyStatus(rasterId: string): Promise<CanopyStatus> {
  const { body } = await requestJson<any>(`/api/rasters/${encodeURIComponent(rasterId)}/canopy`, 'Checking the canopy computation');
  return normaliseCanopy(body);
}

/**
 * Uploads a GeoTIFF with XHR so the upload's progress is observable (fetch has no upload
 * progress). Resolves with the new raster.
 */
export function uploadRaster(file: File, onProgress: (fraction: number) => void): { promise: Promise<RasterInfo>; abort: () => void } {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<RasterInfo>((resolve, reject) => {
    xhr.open('POST', `/api/rasters?filename=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader('Content-Type', 'image/tiff');
    xhr.setRequestHeader('X-Filename', file.name);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError('Uploading the raster: the connection failed', 0));
    xhr.onabort = () => reject(new ApiError('Uploading the raster: cancelled', 0));
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(normaliseRaster(body as Record<string, any>));
      } else reject(new ApiError(errorMessageFrom(xhr.status, body, 'Uploading the raster'), xhr.status, body));
    };
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}

export interface TreesStatus {
  state: 'queued' | 'running' | 'done' | 'failed' | string;
  /** 0..1 */
  progress: number;
  trees: number;
  error?: string;
}

/** Progress of the background tree detection on a CHM (server/trees/service.ts). */
export async function treesStatus(rasterId: string): Promise<TreesStatus> {
  const { body } = await requestJson<TreesStatus>(`/api/rasters/${encodeURIComponent(rasterId)}/trees/status`, 'Checking the tree detection');
  return body;
}
