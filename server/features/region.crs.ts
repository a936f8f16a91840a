/**
 * Regions that name their CRS the GeoJSON 2008 way: a top-level `crs` member such as
 * `{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32610"}}`. RFC 7946 dropped the
 * member, but GDAL's GeoJSON driver (and so QGIS and ogr2ogr) still writes it when a layer is
 * exported in its own projected CRS, which is where stand boundaries usually live. Such a region
 * is projected to WGS84 here, vertex by vertex, before it is validated; the pipeline projects it
 * into the raster's CRS again, so a region drawn in the raster's own CRS keeps its straight edges.
 */
import { InvalidInputError } from '../errors.ts';
import { crsFromEpsg, projector, WGS84 } from '../../tiles/projection.ts';

/** The EPSG code a GeoJSON 2008 CRS name stands for, 4326 for OGC's CRS84 (lon/lat), or null. */
export function epsgOfCrsName(name: string): number | null {
  const n = name.trim();
  if (/^(urn:ogc:def:crs:OGC:(1\.3)?:CRS84|https?:\/\/www\.opengis\.net\/def\/crs\/OGC\/1\.3\/CRS84|CRS:84)$/i.test(n)) return 4326;
  const m = /^(?:EPSG:(\d+)|urn:ogc:def:crs:EPSG:[\d.]*:(\d+)|https?:\/\/www\.opengis\.net\/def\/crs\/EPSG\/[\d.]+\/(\d+))$/i.exec(n);
  return m ? Number(m[1] ?? m[2] ?? m[3]) : null;
}

/**
 * The region input with its coordinates in WGS84 lon/lat and without a `crs` member, or the input
 * itself when it has none (or names WGS84). Positions that are not pairs of finite numbers are
 * left as they are, for validation to report where they are.
 */
export function regionInWgs84(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input) || !('crs' in input)) return input;
  const { crs, ...rest } = input as { crs: unknown } & Record<string, unknown>;
  if (crs === null) return rest; // GeoJSON 2008: null means "no CRS can be assumed"; RFC 7946 readers take WGS84
  const named = crs as { type?: unknown; properties?: { name?: unknown } };
  if (typeof crs !== 'object' || named.type !== 'name' || typeof named.properties?.name !== 'string') {
    throw new InvalidInputError(`region crs must name a CRS ({"type": "name", "properties": {"name": "EPSG:32610"}}), got ${JSON.stringify(crs)}`);
  }
  const name = named.properties.name;
  const epsg = epsgOfCrsName(name);
  if (epsg === null) throw new InvalidInputError(`region crs '${name}' is not an EPSG code or OGC CRS84 (for example urn:ogc:def:crs:EPSG::32610)`);
  // GDAL writes EPSG::4326 in lon/lat order, as RFC 7946 does
  if (epsg === 4326) return rest;
  const toWgs84 = projector(crsFromEpsg(epsg), WGS84);
  return projectCoordinates(rest, (x, y) => {
    const p = toWgs84(x, y);
    // outside the projection's domain proj4 gives NaN or infinities, which no later check would name
    if (!Number.isFinite(p[0]) || !Number.isFinite(p[1])) throw new InvalidInputError(`region position [${x}, ${y}] cannot be projected from EPSG:${epsg} to WGS84`);
    return p;
  });
}

function projectCoordinates(value: unknown, project: (x: number, y: number) => [number, number]): unknown {
  if (Array.isArray(value)) {
    if (value.length >= 2 && typeof value[0] === 'number' && typeof value[1] === 'number') {
      if (!Number.isFinite(value[0]) || !Number.isFinite(value[1])) return value;
      const [lon, lat] = project(value[0], value[1]);
      return [lon, lat, ...value.slice(2)];
    }
    return value.map((v) => projectCoordinates(v, project));
  }
  if (typeof value !== 'object' || value === null) return value;
  const obj = value as Record<string, unknown>;
  // only geometry carries positions: a Feature's properties are the user's, untouched
  if (obj.type === 'FeatureCollection' && Array.isArray(obj.features)) return { ...obj, features: obj.features.map((f) => projectCoordinates(f, project)) };
  if (obj.type === 'Feature') return { ...obj, geometry: projectCoordinates(obj.geometry, project) };
  if ('coordinates' in obj) return { ...obj, coordinates: projectCoordinates(obj.coordinates, project) };
  return value;
}
