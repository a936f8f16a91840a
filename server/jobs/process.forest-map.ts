/**
 * The `forest-map` process: its OGC API - Processes description (what GET /processes/forest-map
 * returns) and the parser that turns an execute request body into a typed, validated request.
 * One file per process, as titiler's algorithms declare their inputs and outputs.
 */
import { DEFAULT_WS, parseWindowSize, windowSizeProblem } from '../trees/window.expression.ts';
import { epsgOfCrsName } from '../features/region.crs.ts';
import { InvalidInputError } from '../errors.ts';
import type { CrownAlgorithm } from '../trees/types.ts';

export const PROCESS_ID = 'forest-map';
export const OUTPUT_NAMES = ['stats', 'trees', 'crowns', 'chm'] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];
const ALGORITHMS: readonly CrownAlgorithm[] = ['dalponte', 'silva', 'watershed'];

/** Output files of a job, by output name. */
export const OUTPUT_FILES: Record<OutputName, { file: string; type: string }> = {
  stats: { file: 'stats.json', type: 'application/json' },
  trees: { file: 'trees.geojson', type: 'application/geo+json' },
  crowns: { file: 'crowns.geojson', type: 'application/geo+json' },
  chm: { file: 'chm.tif', type: 'image/tiff; application=geotiff; profile=cloud-optimized' },
};

export interface TreeDetectionInputs {
  algorithm: CrownAlgorithm;
  /** Window diameter in metres, or an expression of h such as '0.07*h+3' (kept as text: JSON-able, hashable). */
  ws: number | string;
  hmin: number;
}

/** A validated execute request; the region is still raw (validated against the raster by the pipeline). */
export interface ForestMapRequest {
  raster: string;
  /** GeoJSON geometry/Feature, bbox array, or null for the raster's whole extent. */
  region: unknown | null;
  model: string | null;
  trees: TreeDetectionInputs;
  outputs: OutputName[];
}

export const DEFAULT_TREES: TreeDetectionInputs = { algorithm: 'dalponte', ws: DEFAULT_WS, hmin: 2 };

const KNOWN_INPUTS = new Set(['raster', 'region', 'bbox', 'model', 'algorithm', 'ws', 'hmin']);

/**
 * Parses an OGC execute body: `{ inputs: {...}, outputs?: { name: {} }, response? }`.
 * Every problem is an InvalidInputError naming the field.
 */
export function parseExecuteRequest(body: unknown): ForestMapRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidInputError('the request body must be a JSON object with "inputs"');
  const { inputs, outputs } = body as { inputs?: unknown; outputs?: unknown };
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) throw new InvalidInputError('"inputs" must be an object');
  const i = inputs as Record<string, unknown>;
  for (const k of Object.keys(i)) if (!KNOWN_INPUTS.has(k)) throw new InvalidInputError(`unknown input '${k}'; inputs are ${[...KNOWN_INPUTS].join(', ')}`);

  if (typeof i.raster !== 'string' || i.raster === '') throw new InvalidInputError('input "raster" must be a raster id (string)');
  if (i.region !== undefined && i.bbox !== undefined) throw new InvalidInputError('give either "region" or "bbox", not both');
  let region: unknown = i.region ?? null;
  if (i.bbox !== undefined) {
    // OGC bounding box input: {"bbox": [...], "crs": CRS84} or a plain array
    const b = i.bbox as { bbox?: unknown; crs?: unknown };
    const arr = Array.isArray(i.bbox) ? i.bbox : b?.bbox;
    if (!Array.isArray(arr)) throw new InvalidInputError('input "bbox" must be [minLon, minLat, maxLon, maxLat] or {"bbox": [...]}');
    if (!Array.isArray(i.bbox) && b.crs !== undefined && !(typeof b.crs === 'string' && epsgOfCrsName(b.crs) === 4326)) throw new InvalidInputError(`input "bbox" crs must be WGS84 (OGC CRS84), got ${JSON.stringify(b.crs)}`);
    region = arr;
  }
  if (i.model !== undefined && (typeof i.model !== 'string' || i.model === '')) throw new InvalidInputError('input "model" must be a model name (string)');

  const trees: TreeDetectionInputs = { ...DEFAULT_TREES };
  if (i.algorithm !== undefined) {
    if (!ALGORITHMS.includes(i.algorithm as CrownAlgorithm)) throw new InvalidInputError(`input "algorithm" must be one of ${ALGORITHMS.join(', ')}`);
    trees.algorithm = i.algorithm as CrownAlgorithm;
  }
  if (i.hmin !== undefined) {
    if (typeof i.hmin !== 'number' || !(i.hmin >= 0 && i.hmin <= 100)) throw new InvalidInputError('input "hmin" must be a number of metres in [0, 100]');
    trees.hmin = i.hmin;
  }
  if (i.ws !== undefined) {
    if (typeof i.ws === 'number') {
      if (!(Number.isFinite(i.ws) && i.ws > 0 && i.ws <= 100)) throw new InvalidInputError('input "ws" must be a window diameter in metres in (0, 100]');
    } else if (typeof i.ws !== 'string' || i.ws.length > 200) {
      throw new InvalidInputError('input "ws" must be a number (metres) or an expression of h such as "0.07*h+3"');
    } else {
      // an expression that fails at some height fails the job when detection meets that height: refuse it now
      const problem = windowSizeProblem(parseWindowSize(i.ws), trees.hmin);
      if (problem) throw new InvalidInputError(`input "ws": ${problem}`);
    }
    trees.ws = i.ws;
  }

  let outs: OutputName[] = [...OUTPUT_NAMES];
  if (outputs !== undefined) {
    if (typeof outputs !== 'object' || outputs === null || Array.isArray(outputs)) throw new InvalidInputError('"outputs" must be an object keyed by output name');
    const names = Object.keys(outputs);
    for (const n of names) {
      if (!OUTPUT_NAMES.includes(n as OutputName)) throw new InvalidInputError(`unknown output '${n}'; outputs are ${OUTPUT_NAMES.join(', ')}`);
      checkOutputRequest(n as OutputName, (outputs as Record<string, unknown>)[n]);
    }
    if (names.length) outs = OUTPUT_NAMES.filter((n) => names.includes(n));
  }
  const response = (body as { response?: unknown }).response;
  // OGC API - Processes 1.0: 'raw' would answer one output's bytes alone; the results document links them all
  if (response !== undefined && response !== 'document') throw new InvalidInputError(`"response" must be "document" (the results document, with every file by reference), got ${JSON.stringify(response).slice(0, 40)}`);
  return { raster: i.raster, region, model: (i.model as string | undefined) ?? null, trees, outputs: outs };
}

/**
 * One entry of an execute request's outputs: {} or { transmissionMode, format }. The files
 * (trees, crowns, chm) go by reference only: they can be hundreds of MB, which a JSON document must
 * not hold. The statistics come inline (by value) and as a file.
 */
function checkOutputRequest(name: OutputName, spec: unknown): void {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new InvalidInputError(`output '${name}' must be an object such as {} or {"transmissionMode": "reference"}`);
  const { transmissionMode: mode } = spec as { transmissionMode?: unknown };
  if (mode === undefined || mode === 'reference' || (mode === 'value' && name === 'stats')) return;
  if (mode === 'value') throw new InvalidInputError(`output '${name}' is sent by reference only (a file, fetched from its href in the results); ask for {"transmissionMode": "reference"} or {}`);
  throw new InvalidInputError(`output '${name}': transmissionMode must be "value" or "reference", got ${JSON.stringify(mode).slice(0, 40)}`);
}

/** OGC API - Processes summary for GET /processes. */
export function processSummary(base = '') {
  return {
    id: PROCESS_ID,
    title: 'Forest map of a region',
    description: 'Canopy height (ONNX model) and tree-by-tree detection (tops and crowns) over a region of a raster, with statistics.',
    version: '1.0.0',
    jobControlOptions: ['async-execute', 'sync-execute', 'dismiss'],
    outputTransmission: ['reference', 'value'],
    links: [
      { href: `${base}/processes/${PROCESS_ID}`, rel: 'self', type: 'application/json', title: 'process description' },
      { href: `${base}/processes/${PROCESS_ID}/execution`, rel: 'http://www.opengis.net/def/rel/ogc/1.0/execute', type: 'application/json', title: 'execute' },
    ],
  };
}

const geometrySchema = {
  oneOf: [
    { $ref: 'https://geojson.org/schema/Polygon.json' },
    { $ref: 'https://geojson.org/schema/MultiPolygon.json' },
    { $ref: 'https://geojson.org/schema/Feature.json' },
    { $ref: 'https://geojson.org/schema/FeatureCollection.json' },
  ],
};

/** OGC API - Processes process description for GET /processes/forest-map. */
export function processDescription(base = '') {
  return {
    ...processSummary(base),
    inputs: {
      raster: { title: 'Raster id', description: 'An RGB raster (canopy height is inferred) or a raster registered as a CHM (inference is skipped).', schema: { type: 'string' }, minOccurs: 1, maxOccurs: 1 },
      region: { title: 'Region', description: 'GeoJSON Polygon or MultiPolygon in WGS84 lon/lat (RFC 7946), or a Feature or FeatureCollection of them (its polygons taken together; the statistics of a FeatureCollection of several features also list each feature\'s own, under parts); a GeoJSON 2008 crs member naming an EPSG CRS, as GDAL and QGIS write for a projected layer, is honoured (coordinates projected to WGS84 first). Valid as a simple feature: rings do not cross, holes lie inside their exterior ring and apart, the polygons of a MultiPolygon do not overlap (they may touch). Default: the raster\'s extent.', schema: { ...geometrySchema, format: 'geojson-geometry' }, minOccurs: 0, maxOccurs: 1 },
      bbox: { title: 'Region as a bounding box', description: 'Instead of region: [minLon, minLat, maxLon, maxLat] in WGS84.', schema: { type: 'object', required: ['bbox'], properties: { bbox: { type: 'array', minItems: 4, maxItems: 4, items: { type: 'number' } }, crs: { type: 'string', enum: ['http://www.opengis.net/def/crs/OGC/1.3/CRS84'], default: 'http://www.opengis.net/def/crs/OGC/1.3/CRS84' } }, format: 'ogc-bbox' }, minOccurs: 0, maxOccurs: 1 },
      model: { title: 'Canopy height model', description: 'Model name from GET /api/models; default: the default model.', schema: { type: 'string' }, minOccurs: 0, maxOccurs: 1 },
      algorithm: { title: 'Crown algorithm', schema: { type: 'string', enum: ALGORITHMS, default: DEFAULT_TREES.algorithm }, minOccurs: 0, maxOccurs: 1 },
      ws: { title: 'Local-maximum window diameter (m)', description: 'A number of metres or an expression of the height h, e.g. "0.07*h+3" (lidR lmf ws).', schema: { oneOf: [{ type: 'number', exclusiveMinimum: 0, maximum: 100 }, { type: 'string', maxLength: 200 }], default: DEFAULT_TREES.ws }, minOccurs: 0, maxOccurs: 1 },
      hmin: { title: 'Minimum tree height (m)', schema: { type: 'number', minimum: 0, maximum: 100, default: DEFAULT_TREES.hmin }, minOccurs: 0, maxOccurs: 1 },
    },
    outputs: {
      stats: { title: 'Region statistics', description: 'Inline in the results document (by value) and as stats.json (by reference). For a FeatureCollection region of several features, parts: each feature\'s index, id, properties and statistics.', schema: { type: 'object', contentMediaType: 'application/json' } },
      trees: { title: 'Tree tops', description: 'By reference only. RFC 7946 FeatureCollection of Points; properties id, height_m, crown_area_m2, crown_diameter_m.', schema: { type: 'object', contentMediaType: 'application/geo+json' } },
      crowns: { title: 'Tree crowns', description: 'By reference only. RFC 7946 FeatureCollection of Polygons; same properties as trees.', schema: { type: 'object', contentMediaType: 'application/geo+json' } },
      chm: { title: 'Canopy height model of the region', description: 'By reference only. Cloud Optimized GeoTIFF, float32 metres, in the raster\'s CRS; nodata outside the region.', schema: { type: 'string', contentEncoding: 'binary', contentMediaType: 'image/tiff; application=geotiff; profile=cloud-optimized' } },
    },
  };
}
