/**
 * The OpenAPI 3 document of the whole HTTP API, kept in one place, served at GET /api/openapi.json.
 * When a route is added under routes/, add its operation here (test/jobs.openapi.test.ts checks
 * that every route registered on the app is described).
 */
import { Router } from 'express';
import type { AppContext } from './context.ts';
import { processDescription } from '../jobs/process.forest-map.ts';

type Param = { name: string; in: 'path' | 'query' | 'header'; required?: boolean; description?: string; schema: Record<string, unknown> };

const path = (name: string, description: string): Param => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
const query = (name: string, description: string, schema: Record<string, unknown> = { type: 'string' }): Param => ({ name, in: 'query', description, schema });
const rasterId = path('id', 'raster id (see GET /api/rasters)');
const jobId = path('jobId', 'job id (UUID)');

const errorRef = { $ref: '#/components/responses/Error' };
const json = (description: string, schema: Record<string, unknown> = { type: 'object' }) => ({ description, content: { 'application/json': { schema } } });
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), errorRef]));

function op(summary: string, tags: string[], responses: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { summary, tags, responses, ...extra };
}

export function openApiDocument() {
  const forestMap = processDescription();
  return {
    openapi: '3.0.3',
    info: {
      title: 'forestmap',
      version: '0.1.0',
      description: 'Tree-by-tree forest maps from aerial RGB GeoTIFFs: raster catalog, map tiles, canopy height, trees, and region processing jobs (OGC API - Processes).',
      license: { name: 'Apache-2.0' },
    },
    tags: [
      { name: 'rasters', description: 'the raster catalog' },
      { name: 'tiles', description: 'map tiles and colour ramps' },
      { name: 'canopy', description: 'canopy height (CHM) computation' },
      { name: 'trees', description: 'trees of a raster for the map' },
      { name: 'models', description: 'canopy height models' },
      { name: 'processes', description: 'OGC API - Processes: region jobs' },
      { name: 'meta', description: 'health and this document' },
    ],
    paths: {
      '/api/health': { get: op('Liveness', ['meta'], { 200: json('ok') }) },
      '/api/openapi.json': { get: op('This OpenAPI document', ['meta'], { 200: json('OpenAPI 3 document') }) },
      '/api/rasters': {
        get: op('List rasters, and the files of the data folder the catalog could not read at start, with why', ['rasters'], { 200: json('rasters', { type: 'object', properties: {
          rasters: { type: 'array', items: { $ref: '#/components/schemas/Raster' } },
          skipped: { type: 'array', items: { type: 'object', properties: { file: { type: 'string', description: 'path within the data folder (uploads/<name> for an upload)' }, reason: { type: 'string' } } } },
        } }) }),
        post: op('Upload a GeoTIFF (multipart/form-data, streamed to disk)', ['rasters'], { 201: json('the registered raster', { $ref: '#/components/schemas/Raster' }), ...errors(400, 409, 413, 422) }, {
          parameters: [query('id', 'id to register it under'), query('role', 'image or chm', { type: 'string', enum: ['image', 'chm'] })],
          requestBody: { required: true, content: { 'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } } } } } },
        }),
      },
      '/api/rasters/{id}': {
        get: op('Raster metadata: CRS, bounds (native and WGS84), size, GSD, bands, type, nodata, overviews, layout', ['rasters'], { 200: json('raster', { $ref: '#/components/schemas/Raster' }), ...errors(404) }, { parameters: [rasterId] }),
        delete: op('Remove an uploaded raster', ['rasters'], { 200: json('removed'), ...errors(404, 409) }, { parameters: [rasterId] }),
      },
      '/api/rasters/{id}/point': {
        get: op('Band values at a WGS84 point', ['rasters'], { 200: json('values'), ...errors(400, 404) }, {
          parameters: [rasterId, query('lon', 'longitude', { type: 'number' }), query('lat', 'latitude', { type: 'number' })],
        }),
      },
      '/api/rasters/{id}/canopy': {
        get: op('Status of the canopy height computation', ['canopy'], { 200: json('status'), ...errors(404) }, { parameters: [rasterId, query('model', 'model name')] }),
        post: op('Start (or return the running or finished) canopy height computation; the CHM becomes raster <id>-chm', ['canopy'], { 200: json('status'), 202: json('started'), ...errors(400, 404, 409) }, {
          parameters: [rasterId, query('model', 'model name')],
          requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', properties: { model: { type: 'string' } } } } } },
        }),
        delete: op('Cancel the canopy height computation', ['canopy'], { 200: json('status'), ...errors(404) }, { parameters: [rasterId, query('model', 'model name')] }),
      },
      '/api/rasters/{id}/trees': {
        get: op('Trees in a bbox as a WGS84 GeoJSON FeatureCollection (202 while they are being computed)', ['trees'], {
          200: { description: 'trees', content: { 'application/geo+json': { schema: { type: 'object' } } } }, 202: json('still computing: progress'), ...errors(400, 404),
        }, {
          parameters: [rasterId, query('bbox', 'minLon,minLat,maxLon,maxLat'), query('limit', 'most features', { type: 'integer' }), query('geometry', 'crown or point', { type: 'string', enum: ['crown', 'point'] })],
        }),
      },
      '/api/rasters/{id}/trees/status': { get: op('State of the raster\'s tree computation', ['trees'], { 200: json('status'), ...errors(404) }, { parameters: [rasterId] }) },
      '/tiles/{id}/tilejson.json': {
        get: op('TileJSON 3.0 for a raster', ['tiles'], { 200: json('TileJSON'), ...errors(400, 404) }, {
          parameters: [rasterId, query('rescale', 'min,max'), query('colormap', 'ramp name'), query('resampling', 'nearest or bilinear'), query('bidx', 'band indexes')],
        }),
      },
      '/tiles/{id}/{z}/{x}/{file}': {
        get: op('A Web Mercator map tile; file is {y}.png, {y}.webp, {y}@2x.png or {y}@2x.webp (204 outside the raster)', ['tiles'], {
          200: { description: 'tile', content: { 'image/png': {}, 'image/webp': {} } }, 204: { description: 'outside the raster' }, 304: { description: 'not modified' }, ...errors(400, 404),
        }, {
          parameters: [rasterId, path('z', 'zoom'), path('x', 'column'), path('file', '{y}[@2x].png|webp'), query('rescale', 'min,max'), query('colormap', 'ramp name'), query('resampling', 'nearest or bilinear'), query('bidx', 'band indexes')],
        }),
      },
      '/tiles/{id}/trees/{z}/{x}/{file}': {
        get: op('Vector tile (MVT, layers tree_tops and tree_crowns) of a raster\'s trees; file is {y}.pbf (204: no trees, zoom too low, or still computing)', ['trees'], {
          200: { description: 'tile', content: { 'application/vnd.mapbox-vector-tile': {} } }, 204: { description: 'empty' }, ...errors(400, 404),
        }, { parameters: [rasterId, path('z', 'zoom'), path('x', 'column'), path('file', '{y}.pbf')] }),
      },
      '/api/models': { get: op('Installed canopy height models (as `forestmap models`)', ['models'], { 200: json('models') }) },
      '/api/models/{name}': { get: op('One model\'s manifest summary', ['models'], { 200: json('model'), ...errors(404) }, { parameters: [path('name', 'model name')] }) },
      '/api/colormaps': { get: op('Colour ramp names', ['tiles'], { 200: json('names') }) },
      '/api/colormaps/{name}': { get: op('A colour ramp\'s stops (with values for ?rescale=min,max)', ['tiles'], { 200: json('ramp'), ...errors(400, 404) }, { parameters: [path('name', 'ramp'), query('rescale', 'min,max')] }) },
      '/api/colormaps/{name}/legend.png': {
        get: op('Legend image of a ramp', ['tiles'], { 200: { description: 'PNG', content: { 'image/png': {} } }, ...errors(400, 404) }, {
          parameters: [path('name', 'ramp'), query('width', 'pixels', { type: 'integer' }), query('height', 'pixels', { type: 'integer' })],
        }),
      },
      '/': {
        get: op('The web map; with ?f=json (or Accept: application/json) the OGC API landing page: links to this document, the conformance classes, processes and jobs', ['meta'], {
          200: { description: 'landing page', content: { 'text/html': {}, 'application/json': { schema: { type: 'object', properties: { title: { type: 'string' }, description: { type: 'string' }, links: { type: 'array', items: { type: 'object' } } } } } } }, ...errors(400),
        }, { parameters: [query('f', 'json or html', { type: 'string', enum: ['json', 'html'] })] }),
      },
      '/conformance': { get: op('OGC API conformance classes', ['processes'], { 200: json('conformsTo') }) },
      '/processes': { get: op('OGC API - Processes: the process list', ['processes'], { 200: json('processes') }) },
      '/processes/{processId}': {
        get: op('Process description (inputs and outputs)', ['processes'], { 200: json('process description'), ...errors(404) }, { parameters: [path('processId', 'forest-map')] }),
      },
      '/processes/{processId}/execution': {
        post: op('Execute: 201 + Location /jobs/{id} (always with Prefer: respond-async), or 200 with the results for a small region', ['processes'], {
          200: json('results (sync)', { $ref: '#/components/schemas/Results' }),
          201: { description: 'job created', headers: { Location: { schema: { type: 'string' }, description: '/jobs/{jobId}' } }, content: { 'application/json': { schema: { $ref: '#/components/schemas/StatusInfo' } } } },
          ...errors(400, 404, 413, 429),
        }, {
          parameters: [path('processId', 'forest-map'), { name: 'Prefer', in: 'header', description: 'respond-async', schema: { type: 'string' } }],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Execute' } } } },
        }),
      },
      '/api/regions': {
        post: op('Check a region before a job: the region as forest-map takes it (WGS84 MultiPolygon Feature, exterior rings counter-clockwise, bbox, geodesic area), or the reason it is refused', ['processes'], {
          200: json('the region', { type: 'object', properties: { type: { const: 'Feature' }, bbox: { type: 'array', items: { type: 'number' } }, geometry: { $ref: 'https://geojson.org/schema/MultiPolygon.json' }, properties: { type: 'object', properties: { area_m2: { type: 'number' }, area_ha: { type: 'number' }, parts: { type: 'array', description: 'a FeatureCollection of several features: each one\'s index, id and area_ha', items: { type: 'object', properties: { feature: { type: 'integer' }, id: { type: ['string', 'number', 'null'] }, area_ha: { type: 'number' } } } } } } } }),
          ...errors(400, 413),
        }, {
          requestBody: { required: true, content: { 'application/geo+json': { schema: { description: 'GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection; WGS84, or the CRS a GeoJSON 2008 crs member names' } } } },
        }),
      },
      '/jobs': {
        get: op('Jobs, newest first', ['processes'], { 200: json('jobs', { type: 'object', properties: { jobs: { type: 'array', items: { $ref: '#/components/schemas/StatusInfo' } }, numberTotal: { type: 'integer', description: 'every job' }, numberMatched: { type: 'integer', description: 'the jobs the filters keep' } } }), ...errors(400) }, {
          parameters: [
            query('limit', '1-1000', { type: 'integer' }), query('offset', '>= 0', { type: 'integer' }),
            query('status', 'only jobs in these statuses (comma-separated): accepted, running, successful, failed, dismissed'),
            query('processID', 'only jobs of these processes (comma-separated); every job here runs forest-map'),
          ],
        }),
      },
      '/jobs/{jobId}': {
        get: op('Job status: accepted | running | successful | failed | dismissed, progress 0-100, message', ['processes'], { 200: json('status', { $ref: '#/components/schemas/StatusInfo' }), ...errors(404) }, { parameters: [jobId] }),
        delete: op('Dismiss: cancel a queued or running job, or delete a finished job\'s results', ['processes'], { 200: json('status', { $ref: '#/components/schemas/StatusInfo' }), ...errors(404) }, { parameters: [jobId] }),
      },
      '/jobs/{jobId}/results': {
        get: op('Results: statistics inline, files by reference', ['processes'], { 200: json('results', { $ref: '#/components/schemas/Results' }), ...errors(404, 409) }, { parameters: [jobId] }),
      },
      '/jobs/{jobId}/results/{file}': {
        get: op('A result file, streamed: trees.geojson, crowns.geojson, chm.tif (COG; Range requests), stats.json', ['processes'], {
          200: { description: 'file', content: { 'application/geo+json': {}, 'application/json': {}, 'image/tiff; application=geotiff; profile=cloud-optimized': {} } }, ...errors(404, 409),
        }, { parameters: [jobId, path('file', 'trees.geojson | crowns.geojson | chm.tif | stats.json')] }),
      },
    },
    components: {
      responses: {
        Error: json('error (also an OGC API exception document: type, title, detail)', {
          type: 'object', required: ['error', 'status', 'type'],
          properties: {
            error: { type: 'string', description: 'what is wrong' }, status: { type: 'integer' },
            type: { type: 'string', description: 'an OGC exception URI (no-such-process, no-such-job, result-not-ready) or about:blank' },
            title: { type: 'string', description: 'the HTTP status text' }, detail: { type: 'string', description: 'the same as error' },
            details: { type: 'object' },
          },
        }),
      },
      schemas: {
        Raster: { type: 'object', description: 'catalog entry with metadata (CRS, bounds, size, GSD, bands, data type, nodata, overviews, layout, compression, photometric: how samples map to colours; ycbcr is served as RGB; bandScaling: per band [scale, offset] from GDAL metadata, applied as values are read; georeferencing: geotiff, world-file (a .tfw and .prj or .aux.xml beside it) or aux.xml (an SRS or geotransform in the .aux.xml beside the file, which GDAL reads before the file\'s own); externalOverviews: overviews read from <file>.ovr; hasMask / externalMask: a GDAL mask marks no-data pixels, internal or from <file>.msk; photometric palette is served as RGB)' },
        Execute: {
          type: 'object', required: ['inputs'],
          properties: {
            inputs: { type: 'object', properties: Object.fromEntries(Object.entries(forestMap.inputs).map(([k, v]) => [k, { description: v.title, ...(v.schema as object) }])) },
            outputs: { type: 'object', description: 'subset of stats, trees, crowns, chm (default all)', additionalProperties: { type: 'object' } },
          },
        },
        StatusInfo: {
          type: 'object',
          properties: {
            jobID: { type: 'string' }, processID: { type: 'string' }, type: { type: 'string', enum: ['process'] },
            status: { type: 'string', enum: ['accepted', 'running', 'successful', 'failed', 'dismissed'] },
            message: { type: 'string' }, progress: { type: 'integer', minimum: 0, maximum: 100 },
            created: { type: 'string', format: 'date-time' }, started: { type: 'string', format: 'date-time' },
            finished: { type: 'string', format: 'date-time' }, updated: { type: 'string', format: 'date-time' },
            links: { type: 'array', items: { type: 'object' } },
          },
        },
        Results: {
          type: 'object',
          properties: {
            statistics: { type: 'object', description: 'area_ha, canopy_cover_2m, canopy_cover_5m, data_coverage, data_area_ha, tree_count, trees_per_ha (over data_area_ha), tree_height_m, canopy_height_m, height_histogram; for a region given as a FeatureCollection of several features, parts: [{feature, id, properties, statistics}], each feature\'s statistics over its own polygons' },
            trees: { $ref: '#/components/schemas/Link' }, crowns: { $ref: '#/components/schemas/Link' },
            chm: { $ref: '#/components/schemas/Link' }, stats: { $ref: '#/components/schemas/Link' },
            region: { type: 'object', description: 'the region as processed: a GeoJSON MultiPolygon in WGS84 lon/lat, counter-clockwise exterior rings' },
          },
        },
        Link: { type: 'object', properties: { href: { type: 'string' }, type: { type: 'string' } } },
      },
    },
  };
}

export default function openApiRoutes(_ctx: AppContext): Router {
  const router = Router();
  const doc = openApiDocument();
  router.get('/api/openapi.json', (_req, res) => {
    res.json(doc);
  });
  return router;
}
