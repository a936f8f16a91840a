/**
 * Map tiles of catalog rasters and the colour ramps they use:
 *   GET /tiles/:id/{z}/{x}/{y}[@2x].png|webp   ?rescale=min,max&colormap=NAME&resampling=&bidx=
 *   GET /tiles/:id/tilejson.json               (same query, passed through to the tile URLs)
 *   GET /api/colormaps                          names
 *   GET /api/colormaps/:name                    {name, stops:[[t,r,g,b]...]} (?rescale=min,max adds values)
 *   GET /api/colormaps/:name/legend.png         ?width=256&height=16
 * Each tile: validate -> catalog entry (version) -> ETag/304 -> disk cache -> plan/read/render.
 */
import { Router, type Request } from 'express';
import { join } from 'node:path';
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

export default function tileRoutes(ctx: AppContext): Router {
  const router = Router();
  const cache = new TileCache(join(ctx.config.varDir, 'tiles')).watch(ctx.catalog);

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
    res.setHeader('Cache-Control', 'public, max-age=60');
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
    res.setHeader('Content-Crs', '<http://www.opengis.net/def/crs/EPSG/0/3857>');
    res.setHeader('Content-Bbox', tileBounds(tile).toArray().map((v) => v.toFixed(3)).join(','));
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
