/**
 * OGC API - Processes: the process list, the forest-map description, and execution.
 * Execution validates everything first (raster, model, region, options → 4xx with the reason),
 * then either runs a small region synchronously (200 with the results) or answers
 * `201 Created` + `Location: /jobs/{id}` (always when the client sends `Prefer: respond-async`).
 */
import { Router } from 'express';
import { jsonBodyOfAnyType } from '../json.body.ts';
import type { AppContext } from '../context.ts';
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import { processDescription, processSummary, PROCESS_ID } from '../../jobs/process.forest-map.ts';
import { jobServiceFor } from '../../jobs/service.ts';
import { ACTIVE_STATUSES } from '../../jobs/store.ts';
import { resultsDocument, statusInfo } from './jobs.ts';

const OGC_REL = 'http://www.opengis.net/def/rel/ogc/1.0';

/** OGC API - Common landing page: what the API is and where its parts are. */
export function landingPage() {
  return {
    title: 'forestmap',
    description: 'Tree-by-tree forest maps from aerial RGB GeoTIFFs: canopy height, tree tops and crowns over a region (OGC API - Processes).',
    links: [
      { href: '/?f=json', rel: 'self', type: 'application/json', title: 'this document' },
      { href: '/', rel: 'alternate', type: 'text/html', title: 'the web map' },
      { href: '/api/openapi.json', rel: 'service-desc', type: 'application/vnd.oai.openapi+json;version=3.0', title: 'the API definition' },
      { href: '/conformance', rel: 'conformance', type: 'application/json', title: 'conformance classes' },
      { href: '/processes', rel: `${OGC_REL}/processes`, type: 'application/json', title: 'processes' },
      { href: '/jobs', rel: `${OGC_REL}/job-list`, type: 'application/json', title: 'jobs' },
    ],
  };
}

export default function processRoutes(ctx: AppContext): Router {
  const router = Router();
  const jobs = () => jobServiceFor(ctx);

  // OGC API's landing page, where its clients start (OWSLib, QGIS): JSON when asked for with ?f=json
  // or an Accept header preferring JSON; browsers (and ?f=html) fall through to the web map
  router.get('/', (req, res, next) => {
    const f = req.query.f;
    if (f !== undefined && f !== 'json' && f !== 'html') throw new InvalidInputError(`query parameter 'f' must be json or html, got '${String(f).slice(0, 40)}'`);
    if (f === 'html' || (f === undefined && req.accepts(['text/html', 'application/json']) !== 'application/json')) return next();
    res.json(landingPage());
  });

  router.get('/conformance', (_req, res) => {
    res.json({
      conformsTo: [
        'http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core',
        'http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json',
        'http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list',
        'http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/dismiss',
        'http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/oas30',
      ],
    });
  });

  router.get('/processes', (_req, res) => {
    res.json({ processes: [processSummary()], links: [{ href: '/processes', rel: 'self', type: 'application/json' }] });
  });

  router.get('/processes/:id', (req, res) => {
    if (req.params.id !== PROCESS_ID) throw new NotFoundError(`no process '${req.params.id}'; processes: ${PROCESS_ID}`, { type: 'http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/no-such-process' });
    res.json(processDescription());
  });

  const body = jsonBodyOfAnyType(() => jobs().config.maxBodyBytes);

  router.post('/processes/:id/execution', body, async (req, res) => {
    if (req.params.id !== PROCESS_ID) throw new NotFoundError(`no process '${req.params.id}'; processes: ${PROCESS_ID}`, { type: 'http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/no-such-process' });
    const service = jobs();
    const plan = await service.plan(req.body);
    const preferAsync = /respond-async/i.test(req.get('prefer') ?? '');
    // synchronous only for a small region on an idle runner: never hold a request behind other
    // jobs. Small in work too: scattered specks of a few m² each can touch tiles over many km²,
    // while a compact region's tiles and margins stay within a few times its area
    const syncKm2 = service.config.syncMaxKm2;
    const small = plan.region.areaM2 <= syncKm2 * 1e6 && (plan.workKm2 ?? 0) <= 4 * syncKm2 && service.store.countWithStatus(ACTIVE_STATUSES) === 0;
    const job = service.submit(plan);
    if (preferAsync || !small) {
      if (preferAsync) res.set('Preference-Applied', 'respond-async');
      res.status(201).location(`/jobs/${job.id}`).json(statusInfo(job));
      return;
    }
    const done = await service.runner.wait(job.id);
    if (done.status !== 'successful') {
      res.status(done.status === 'failed' ? 500 : 409).json({ error: `job ${done.status}: ${done.message}`, status: done.status === 'failed' ? 500 : 409, jobID: done.id });
      return;
    }
    res.status(200).location(`/jobs/${job.id}`).json(resultsDocument(done));
  });

  return router;
}
