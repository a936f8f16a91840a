/**
 * Map tiles of catalog rasters and the colour ramps they use:
 *   GET /tiles/:id/{z}/{x}/{y}[@2x].png|webp   ?rescale=min,max&colormap=NAME&resampling=&bidx=
 *   GET /tiles/:id/tilejson.json               (same query, passed through to the tile URLs)
 *   GET /api/colormaps                          names
 *   GET /api/colormaps/:name                    {name, stops:[[t,r,g,b]...]} (?rescale=min,max adds values)
 *   GET /api/colormaps/:name/legend.png         ?width=256&height=16
 * Each tile: validate -> catalog entry (version) -> ETag/304 -> disk cache -> plan/read/render.
 * A tile once served is also kept as a ready response (body + precomputed headers) keyed by its
 * exact request URL. The route below only fills that store; repeat requests are answered from it
 * in front of Express by readyTileResponder (mounted by createRequestListener in ../app.ts): no
 * routing, parsing, key building or header formatting, one catalog check (the entry's version,
 * which also notices a file replaced on disk) and a single writeHead + end.
 */
import { Router, type Request } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Catalog } from '../../catalog/catalog.ts';
import type { AppContext } from '../context.ts';
import { InvalidInputError } from '../../errors.ts';
import { TileCache } from '../../catalog/tile.cache.ts';
import { renderTile } from '../../raster/tile.render.ts';
import { CONTENT_TYPES, encodeRgba } from '../../../tiles/encode.ts';
import { legendRgba } from '../../../tiles/render.ts';
import { getRamp, rampNames } from '../../../tiles/ramps/index.ts';
import { parseTilePath, parseTileStyle, styleKey } from '../../../tiles/tile.params.ts';
import { tileJson } from '../../../tiles/tilejson.ts';
import { tileBounds } from '../../../tiles/tile.matrix.set.ts';

const CONTENT_CRS = '<http://www.opengis.net/def/crs/EPSG/0/3857>';
const CACHE_CONTROL = 'public, max-age=60';

function baseUrl(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? '127.0.0.1'}`;
}

function queryString(req: Request): string {
  const i = req.originalUrl.indexOf('?');
  return i >= 0 ? req.originalUrl.slice(i) : '';
}

function intParam(v: unknown, name: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidInputError(`${name} must be an integer in [${min}, ${max}]`);
  return n;
}

/** A tile response ready to send again: what the slow path computed for one request URL. */
interface ReadyTile {
  id: string;
  version: string;
  etag: string;
  /** Raw header list (name, value, ...) for the 200/204, Content-Length included. */
  headers: string[];
  /** The same for a 304. */
  notModified: string[];
  body: Buffer | null;
}

/**
 * Ready responses by request URL, oldest first. Bounded on its own (it shares its buffers with the
 * tile cache's memory while both hold a tile, so at most maxBytes (16 MiB) more stay alive).
 */
class ReadyTiles {
  private readonly byUrl = new Map<string, ReadyTile>();
  private bytes = 0;
  constructor(private readonly maxBytes = 16 * 1024 * 1024, private readonly maxEntries = 8192) {}

  get(url: string): ReadyTile | undefined {
    return this.byUrl.get(url);
  }

  set(url: string, r: ReadyTile): void {
    this.delete(url);
    this.byUrl.set(url, r);
    this.bytes += r.body?.length ?? 0;
    while (this.bytes > this.maxBytes || this.byUrl.size > this.maxEntries) {
      const [oldest] = this.byUrl.keys();
      this.delete(oldest);
    }
  }

  delete(url: string): void {
    const r = this.byUrl.get(url);
    if (!r) return;
    this.byUrl.delete(url);
    this.bytes -= r.body?.length ?? 0;
  }

  dropRaster(id: string): void {
    for (const [url, r] of this.byUrl) if (r.id === id) this.delete(url);
  }
}

/** One ready store per catalog: every app built over it fills the same one, the fast path reads it. */
const readyStores = new WeakMap<Catalog, ReadyTiles>();

function readyTilesFor(catalog: Catalog): ReadyTiles {
  let ready = readyStores.get(catalog);
  if (!ready) {
    const store = new ReadyTiles();
    catalog.on('change', (e) => {
      if (e.type !== 'added') store.dropRaster(e.entry.id);
    });
    readyStores.set(catalog, (ready = store));
  }
  return ready;
}

/**
 * Answers a request from the ready store, before any routing: `false` (synchronously) when it is
 * not a GET/HEAD of a ready tile URL, else a promise of whether it answered. It does not when the
 * catalog entry's version moved on (file replaced on disk, re-registered) or the raster is gone:
 * the stale response is dropped and the caller hands the request to the app, which renders (or
 * says 404) and fills the store again.
 */
export type ReadyTileResponder = (req: IncomingMessage, res: ServerResponse) => false | Promise<boolean>;

export function readyTileResponder(ctx: AppContext): ReadyTileResponder {
  const ready = readyTilesFor(ctx.catalog);
  const answer = async (hot: ReadyTile, url: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const started = performance.now();
    // current(): the entry's version, re-checked against the file on disk every recheckMs
    const version = await ctx.catalog.current(hot.id).then((e) => e.version, () => null);
    if (version !== hot.version) {
      if (ready.get(url) === hot) ready.delete(url);
      return false;
    }
    if (req.headers['if-none-match'] === hot.etag) {
      res.writeHead(304, hot.notModified);
      res.end();
      return true;
    }
    res.writeHead(hot.body ? 200 : 204, [...hot.headers, 'Server-Timing', `cache;dur=${(performance.now() - started).toFixed(1)}`]);
    if (hot.body) res.end(hot.body);
    else res.end();
    return true;
  };
  return (req, res) => {
    const url = req.url;
    if (url === undefined || !url.startsWith('/tiles/') || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const hot = ready.get(url);
    return hot ? answer(hot, url, req, res) : false;
  };
}

export default function tileRoutes(ctx: AppContext): Router {
  const router = Router();
  const cache = new TileCache(join(ctx.config.varDir, 'tiles')).watch(ctx.catalog);
  const ready = readyTilesFor(ctx.catalog);

  router.get('/tiles/:id/tilejson.json', async (req, res) => {
    const entry = await ctx.catalog.current(req.params.id);
    parseTileStyle(req.query as Record<string, unknown>); // reject a bad style here, not per tile
    const url = `${baseUrl(req)}/tiles/${entry.id}/{z}/{x}/{y}.png${queryString(req)}`;
    res.json(tileJson(entry.metadata, { name: entry.name, tilesUrl: url }));
  });

  router.get('/tiles/:id/:z/:x/:file', async (req, res, next) => {
    // other layers' tiles (vector .pbf/.mvt) under /tiles/ belong to their own routes
    if (!/\.(png|webp)$/.test(req.params.file)) return next();
    const { tile, size, format } = parseTilePath(req.params.z, req.params.x, req.params.file);
    const style = parseTileStyle(req.query as Record<string, unknown>);
    const entry = await ctx.catalog.current(req.params.id);
    const variant = `${size === 512 ? '@2x' : ''}-${styleKey(style)}`;
    const etag = `"${entry.version}${variant}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', CACHE_CONTROL);
    if (req.headers['if-none-match'] === etag) {
      res.status(304).end();
      return;
    }
    const key = { id: entry.id, version: entry.version, z: tile.z, x: tile.x, y: tile.y, variant, ext: format };
    const started = performance.now();
    const { tile: data, cached } = await cache.getOrRender(key, async () => {
      const source = await ctx.catalog.source(entry.id);
      return renderTile(source, { tile, size, format, style, role: entry.role });
    });
    res.setHeader('X-Tile-Cache', cached ? 'hit' : 'miss');
    res.setHeader('Server-Timing', `${cached ? 'cache' : 'render'};dur=${(performance.now() - started).toFixed(1)}`);
    // where the pixels lie, as titiler says it
    const bbox = tileBounds(tile).toArray().map((v) => v.toFixed(3)).join(',');
    res.setHeader('Content-Crs', CONTENT_CRS);
    res.setHeader('Content-Bbox', bbox);
    // the next request for this URL is answered from memory, in front of Express (readyTileResponder)
    const notModified = ['ETag', etag, 'Cache-Control', CACHE_CONTROL];
    ready.set(req.originalUrl, {
      id: entry.id,
      version: entry.version,
      etag,
      notModified,
      headers: [
        ...notModified, 'X-Tile-Cache', 'hit', 'Content-Crs', CONTENT_CRS, 'Content-Bbox', bbox,
        ...(data ? ['Content-Type', CONTENT_TYPES[format], 'Content-Length', String(data.length)] : []),
      ],
      body: data,
    });
    if (!data) {
      res.status(204).end();
      return;
    }
    res.setHeader('Content-Type', CONTENT_TYPES[format]);
    res.end(data);
  });

  router.get('/api/colormaps', (_req, res) => {
    res.json({ colormaps: rampNames() });
  });

  router.get('/api/colormaps/:name', (req, res) => {
    const ramp = getRamp(req.params.name);
    const style = parseTileStyle({ rescale: req.query.rescale });
    const range = style.rescale?.[0] ?? null;
    res.json({
      name: ramp.name,
      stops: ramp.stops.map(([t, r, g, b]) => (range ? { t, value: range[0] + t * (range[1] - range[0]), color: [r, g, b] } : { t, color: [r, g, b] })),
      ...(range ? { rescale: range } : {}),
    });
  });

  router.get('/api/colormaps/:name/legend.png', async (req, res) => {
    const ramp = getRamp(req.params.name);
    const width = intParam(req.query.width, 'width', 256, 2, 2048);
    const height = intParam(req.query.height, 'height', 16, 1, 256);
    const png = await encodeRgba(legendRgba(ramp.name, width, height), width, height, 'png');
    res.setHeader('Content-Type', 'image/png');
    res.setHeader('Cache-Control', 'public, max-age=86400');
    res.end(png);
  });

  return router;
}
