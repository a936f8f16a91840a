/**
 * The raster catalog over HTTP:
 *   GET    /api/rasters                    {rasters: [...]}
 *   GET    /api/rasters/:id                one raster's metadata and links
 *   POST   /api/rasters                    upload: raw body (?filename=) or multipart/form-data
 *                                         (first file field); ?id= replaces an earlier upload; ?role=image|chm
 *   DELETE /api/rasters/:id                forget a raster (uploads are deleted from disk)
 *   GET    /api/rasters/:id/point?lon=&lat=  band values at a WGS84 point (null where nodata)
 */
import { Router, type Request, type Response } from 'express';
import busboy from 'busboy';
import type { Readable } from 'node:stream';
import type { AppContext } from '../context.ts';
import { InvalidInputError, LimitExceededError } from '../../errors.ts';
import type { Catalog, CatalogEntry, RasterRole } from '../../catalog/catalog.ts';
import { pointValues } from '../../raster/point.ts';

/** Bytes past the upload limit we still read (and discard) so the client receives the 413. */
const DRAIN_LIMIT = 16 * 1024 * 1024;

export function rasterJson(entry: CatalogEntry, base = '') {
  const m = entry.metadata;
  return {
    id: entry.id,
    name: entry.name,
    role: entry.role,
    origin: entry.origin,
    sourceId: entry.sourceId,
    version: entry.version,
    crs: { epsg: m.crs.epsg, proj4: m.crs.proj4, name: m.crs.name, units: m.crs.units },
    bounds: m.bounds,
    wgs84Bounds: m.wgs84Bounds,
    width: m.width,
    height: m.height,
    transform: m.transform,
    resolution: m.resolution,
    gsd: m.gsd,
    bandCount: m.bandCount,
    sampleType: m.sampleType,
    nodata: m.nodata === null ? null : Number.isNaN(m.nodata) ? 'nan' : m.nodata,
    overviews: m.overviews,
    layout: m.layout,
    blockSize: m.blockSize,
    planarConfig: m.planarConfig,
    compression: m.compression,
    photometric: m.photometric,
    bandScaling: m.bandScaling,
    hasAlpha: m.hasAlpha,
    hasMask: m.hasMask,
    fileSize: m.fileSize,
    georeferencing: m.georeferencing,
    externalOverviews: m.externalOverviews,
    externalMask: m.externalMask,
    links: {
      self: `${base}/api/rasters/${entry.id}`,
      tilejson: `${base}/tiles/${entry.id}/tilejson.json`,
      tiles: `${base}/tiles/${entry.id}/{z}/{x}/{y}.png`,
      point: `${base}/api/rasters/${entry.id}/point?lon={lon}&lat={lat}`,
    },
  };
}

function base(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? '127.0.0.1'}`;
}

function optionalString(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new InvalidInputError(`'${name}' must be a plain value`);
  return v;
}

function roleParam(v: unknown): RasterRole | undefined {
  const s = optionalString(v, 'role');
  if (s === undefined) return undefined;
  if (s !== 'image' && s !== 'chm') throw new InvalidInputError(`role must be 'image' or 'chm', got '${s.slice(0, 20)}'`);
  return s;
}

function coordinate(v: unknown, name: string, limit: number): number {
  const s = optionalString(v, name);
  const n = s === undefined || s.trim() === '' ? NaN : Number(s);
  if (!Number.isFinite(n) || Math.abs(n) > limit) throw new InvalidInputError(`${name} must be a number in [-${limit}, ${limit}]`);
  return n;
}

/** The upload's file stream: the first file of a multipart form, or the raw body. */
function uploadFrom(req: Request, catalog: Catalog, opts: { id?: string; role?: RasterRole }): Promise<CatalogEntry> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('multipart/form-data')) {
    const filename = optionalString(req.query.filename, 'filename') ?? (typeof req.headers['x-filename'] === 'string' ? req.headers['x-filename'] : 'upload.tif');
    return catalog.upload(req, filename, opts);
  }
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fields: 20, fileSize: catalog.options.maxUploadBytes + 1 } });
    } catch (err) {
      reject(new InvalidInputError(`bad multipart upload: ${(err as Error).message}`));
      return;
    }
    let started = false;
    bb.on('file', (_field: string, stream: Readable, info: { filename: string }) => {
      if (started) {
        stream.resume();
        return;
      }
      started = true;
      catalog.upload(stream, info.filename || 'upload.tif', opts).then(resolve, (err) => {
        req.unpipe(bb);
        req.resume();
        reject(err);
      });
    });
    bb.on('error', (err: Error) => reject(new InvalidInputError(`bad multipart upload: ${err.message}`)));
    bb.on('close', () => {
      if (!started) reject(new InvalidInputError('multipart upload holds no file'));
    });
    req.pipe(bb);
  });
}

/**
 * Discard what is left of a refused upload's body, so the client reads our 4xx instead of a reset
 * connection; beyond DRAIN_LIMIT bytes the connection is closed instead.
 */
function drain(req: Request, res: Response): Promise<void> {
  if (req.readableEnded || req.complete || req.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    let seen = 0;
    const done = () => {
      req.off('data', count);
      resolve();
    };
    const count = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > DRAIN_LIMIT) {
        res.setHeader('Connection', 'close');
        done();
      }
    };
    req.on('data', count).once('end', done).once('error', done).once('close', done);
    req.resume();
  });
}

export default function rasterRoutes(ctx: AppContext): Router {
  const router = Router();
  const { catalog } = ctx;

  router.get('/api/rasters', (req, res) => {
    // files the user put in the data folder but cannot find on the map: say why
    res.json({ rasters: catalog.list().map((e) => rasterJson(e, base(req))), skipped: catalog.skippedFiles() });
  });

  router.get('/api/rasters/:id', async (req, res) => {
    res.json(rasterJson(await catalog.current(req.params.id), base(req)));
  });

  router.post('/api/rasters', async (req, res) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > catalog.options.maxUploadBytes + 64 * 1024) {
      // refused on its declared size alone: answer now and close, rather than wait for a body
      // that may never come (or read gigabytes only to throw them away)
      res.setHeader('Connection', 'close');
      throw new LimitExceededError(`upload of ${declared} bytes exceeds the limit of ${catalog.options.maxUploadBytes} bytes`);
    }
    try {
      const entry = await uploadFrom(req, catalog, { id: optionalString(req.query.id, 'id'), role: roleParam(req.query.role) });
      res.status(201).setHeader('Location', `/api/rasters/${entry.id}`).json(rasterJson(entry, base(req)));
    } catch (err) {
      await drain(req, res);
      throw err;
    }
  });

  router.delete('/api/rasters/:id', async (req, res) => {
    const entry = await catalog.remove(req.params.id);
    res.json({ removed: entry.id });
  });

  router.get('/api/rasters/:id/point', async (req, res) => {
    const lon = coordinate(req.query.lon, 'lon', 180);
    const lat = coordinate(req.query.lat, 'lat', 90);
    const source = await catalog.source(req.params.id);
    res.json({ id: req.params.id, lon, lat, ...(await pointValues(source, lon, lat)) });
  });

  return router;
}
