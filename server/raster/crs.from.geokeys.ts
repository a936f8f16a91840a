/**
 * The CRS a GeoTIFF names in its GeoKeys. Only EPSG-coded CRSs are supported: a user-defined
 * projection (code 32767) is refused with a clear reason rather than guessed.
 */
import { UnreadableRasterError } from '../errors.ts';
import { tryCrsFromEpsg } from '../../tiles/projection.ts';
import type { Crs } from './types.ts';

const USER_DEFINED = 32767;

export function crsFromGeoKeys(keys: Record<string, unknown> | null, file: string): Crs {
  if (!keys) throw new UnreadableRasterError(`${file}: the TIFF has no GeoKeys (not georeferenced)`, { reason: 'no-georeferencing' });
  const model = keys.GTModelTypeGeoKey;
  const projected = keys.ProjectedCSTypeGeoKey;
  const geographic = keys.GeographicTypeGeoKey;
  const code = typeof projected === 'number' && (model === 1 || model === undefined || typeof geographic !== 'number')
    ? projected
    : typeof geographic === 'number' ? geographic : typeof projected === 'number' ? projected : null;
  if (code === null) throw new UnreadableRasterError(`${file}: the GeoKeys name no EPSG coordinate reference system`, { reason: 'no-crs' });
  if (code === USER_DEFINED) {
    throw new UnreadableRasterError(`${file}: user-defined CRS (GeoKey 32767) is not supported; reproject to an EPSG CRS (e.g. gdalwarp -t_srs EPSG:...)`, { reason: 'user-defined-crs' });
  }
  const crs = tryCrsFromEpsg(code);
  if (!crs) throw new UnreadableRasterError(`${file}: unknown CRS EPSG:${code}`, { reason: 'unknown-crs', epsg: code });
  return crs;
}
