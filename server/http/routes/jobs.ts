/**
 * OGC API - Processes jobs: list, status, dismiss (cancel), results. Output files are streamed
 * from disk (sendFile: Range requests work for the COG), never loaded whole.
 */
import { Router } from 'express';
import type { AppContext } from '../context.ts';
import { InvalidInputError } from '../../errors.ts';
import { JOB_STATUSES, type JobRecord } from '../../jobs/store.ts';
import { OUTPUT_FILES, PROCESS_ID, type OutputName } from '../../jobs/process.forest-map.ts';
import { jobServiceFor, type JobResultSummary } from '../../jobs/service.ts';
import type { ForestMapPlan } from '../../jobs/pipeline.ts';

/** OGC statusInfo of a job. */
export function statusInfo(job: JobRecord) {
  const links: Array<Record<string, string>> = [{ href: `/jobs/${job.id}`, rel: 'self', type: 'application/json', title: 'job status' }];
  if (job.status === 'successful') links.push({ href: `/jobs/${job.id}/results`, rel: 'http://www.opengis.net/def/rel/ogc/1.0/results', type: 'application/json', title: 'results' });
  return {
    jobID: job.id,
    processID: job.process,
    type: 'process',
    status: job.status,
    message: job.message,
    progress: Math.round(job.progress),
    created: job.created,
    started: job.started ?? undefined,
    finished: job.finished ?? undefined,
    updated: job.updated,
    links,
  };
}

/** The results document: statistics inline, files by reference. */
export function resultsDocument(job: JobRecord) {
  const result = job.result as JobResultSummary;
  const doc: Record<string, unknown> = {};
  for (const [name, file] of Object.entries(result.outputs)) {
    const spec = OUTPUT_FILES[name as OutputName];
    doc[name] = { href: `/jobs/${job.id}/results/${file}`, type: spec?.type ?? 'application/octet-stream' };
  }
  doc.statistics = result.statistics;
  // the region as processed (WGS84 MultiPolygon, counter-clockwise), so a client reopening the job can draw it
  const region = (job.inputs as Partial<ForestMapPlan> | null)?.region?.geometry;
  if (region) doc.region = region;
  return doc;
}

function intParam(v: unknown, name: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < min || n > max) throw new InvalidInputError(`query parameter '${name}' must be an integer in [${min}, ${max}]`);
  return n;
}

/**
 * A list query parameter (comma-separated, or repeated), each value one of `allowed` when given;
 * null when absent.
 */
function listParam<T extends string>(v: unknown, name: string, allowed: readonly T[] | null): T[] | null {
  if (v === undefined) return null;
  const parts = ([] as unknown[]).concat(v);
  if (parts.length > 20 || !parts.every((p): p is string => typeof p === 'string' && p.length <= 200)) throw new InvalidInputError(`query parameter '${name}' must be a comma-separated list`);
  const values = parts.flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean);
  const bad = allowed ? values.find((x) => !allowed.includes(x as T)) : undefined;
  if (bad !== undefined) throw new InvalidInputError(`query parameter '${name}': unknown value '${bad}' (one of ${allowed!.join(', ')})`);
  return values as T[];
}

export default function jobRoutes(ctx: AppContext): Router {
  const router = Router();
  // created now, not on the first request: a restarted server resumes interrupted jobs at once
  jobServiceFor(ctx);
  const jobs = () => jobServiceFor(ctx);

  router.get('/jobs', (req, res) => {
    const limit = intParam(req.query.limit, 'limit', 100, 1, 1000);
    const offset = intParam(req.query.offset, 'offset', 0, 0, 1e9);
    // OGC API - Processes job list filters: every job here is a forest-map job
    const statuses = listParam(req.query.status, 'status', JOB_STATUSES);
    const processes = listParam(req.query.processID, 'processID', null);
    const filter = processes && !processes.includes(PROCESS_ID) ? [] : statuses;
    const store = jobs().store;
    const query = [statuses ? `status=${statuses.join(',')}` : '', processes ? `processID=${processes.map(encodeURIComponent).join(',')}` : ''].filter(Boolean).join('&');
    const matched = store.countJobs(filter ?? undefined);
    const page = (rel: string, at: number) => ({ href: `/jobs?limit=${limit}&offset=${at}${query ? `&${query}` : ''}`, rel, type: 'application/json' });
    const links = [page('self', offset)];
    // paging as OGC API lists do it: a client follows next until there is none
    if (offset + limit < matched) links.push(page('next', offset + limit));
    if (offset > 0) links.push(page('prev', Math.max(0, offset - limit)));
    res.json({ jobs: store.listJobs(limit, offset, filter ?? undefined).map(statusInfo), numberTotal: store.countJobs(), numberMatched: matched, links });
  });

  router.get('/jobs/:id', (req, res) => {
    res.json(statusInfo(jobs().runner.get(req.params.id)));
  });

  router.delete('/jobs/:id', (req, res) => {
    res.json(statusInfo(jobs().runner.dismiss(req.params.id)));
  });

  router.get('/jobs/:id/results', (req, res) => {
    res.json(resultsDocument(jobs().assertSuccessful(req.params.id)));
  });

  router.get('/jobs/:id/results/:file', (req, res, next) => {
    const path = jobs().resultFile(req.params.id, req.params.file);
    const spec = Object.values(OUTPUT_FILES).find((o) => o.file === req.params.file);
    if (spec) res.type(spec.type);
    res.set('Content-Disposition', `attachment; filename="${req.params.file}"`);
    res.sendFile(path, { dotfiles: 'allow' }, (err) => { if (err && !res.headersSent) next(err); });
  });

  return router;
}
