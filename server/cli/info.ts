/** `forestmap info <file>`: what the catalog would say about a GeoTIFF, without a server. */
import { parseFlags } from './args.ts';
import { UsageError } from './main.ts';
import { openRaster } from '../raster/source.ts';
import type { RasterMetadata } from '../raster/metadata.ts';
import { zoomRange } from '../../tiles/tilejson.ts';

export const usage = `forestmap info <file.tif> [--json]

Prints a GeoTIFF's CRS (EPSG code and proj4 definition), bounds in its CRS and in WGS84, size,
ground sample distance, bands, data type, nodata, overviews, layout and compression.
  --json   print the same as JSON (the shape of GET /api/rasters/:id, without the catalog fields)
Exit codes: 0 ok, 1 unreadable raster, 2 usage error.`;

const GEOREFERENCING: Record<RasterMetadata['georeferencing'], string> = {
  geotiff: 'GeoTIFF keys',
  'world-file': 'a world file and .prj beside the TIFF',
  'aux.xml': 'the .aux.xml beside the TIFF (GDAL reads its SRS and geotransform before the file\'s own)',
};

function fmt(n: number, digits = 6): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(digits).replace(/0+$/, '').replace(/\.$/, '');
}

export function describeText(path: string, m: RasterMetadata): string {
  const z = zoomRange(m);
  const lines = [
    `file:        ${path}`,
    `size:        ${m.width} x ${m.height} pixels, ${m.bandCount} band(s)${m.hasAlpha ? ' + alpha' : ''}${m.hasMask ? ` + mask${m.externalMask ? ' (external .msk)' : ''}` : ''}`,
    `data type:   ${m.sampleType}${m.bandScaling ? `, read as stored x scale + offset: ${m.bandScaling.map(([a, b]) => `[${a}, ${b}]`).join(' ')}` : ''}`,
    `nodata:      ${m.nodata === null ? 'none' : String(m.nodata)}`,
    `crs:         ${m.crs.epsg !== null ? `EPSG:${m.crs.epsg}` : 'user-defined'}${m.crs.name ? ` (${m.crs.name})` : ''}, units ${m.crs.units}`,
    `proj4:       ${m.crs.proj4}`,
    `georef:      ${GEOREFERENCING[m.georeferencing]}`,
    `bounds:      ${m.bounds.map((v) => fmt(v, 4)).join(', ')}  (minX, minY, maxX, maxY in CRS units)`,
    `wgs84:       ${m.wgs84Bounds.map((v) => fmt(v, 7)).join(', ')}  (west, south, east, north)`,
    `pixel size:  ${fmt(m.resolution[0])} x ${fmt(m.resolution[1])} CRS units; GSD ${fmt(m.gsd, 4)} m`,
    `layout:      ${m.layout} ${m.blockSize[0]}x${m.blockSize[1]}, ${m.planarConfig}, compression ${m.compression}`,
    `colour:      ${m.photometric === 'ycbcr' || m.photometric === 'palette' ? `${m.photometric} (read as rgb)` : m.photometric}`,
    `overviews:   ${m.overviews.length ? `${m.overviews.map((o) => `${o.width}x${o.height}`).join(', ')}${m.externalOverviews ? ' (external .ovr)' : ''}` : 'none'}`,
    `web zooms:   ${z.minzoom}-${z.maxzoom}`,
    `file size:   ${m.fileSize} bytes`,
  ];
  return lines.join('\n') + '\n';
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { json: { type: 'boolean', default: false } }, true);
  if (positionals.length !== 1) throw new UsageError('give exactly one raster file');
  const path = positionals[0];
  const source = await openRaster(path);
  try {
    const m = source.metadata;
    if (values.json) process.stdout.write(JSON.stringify({ path, ...m, zooms: zoomRange(m) }, (_k, v) => (typeof v === 'number' && Number.isNaN(v) ? 'nan' : v), 2) + '\n');
    else process.stdout.write(describeText(path, m));
  } finally {
    await source.close();
  }
  return 0;
}
