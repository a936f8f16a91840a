/**
 * The CRS a GeoTIFF names in its GeoKeys: an EPSG code, or a user-defined CRS (code 32767, as
 * ArcGIS and GDAL write for a projection without an EPSG code) built from its projection
 * parameters for the coordinate transformations aerial imagery uses. Anything else is refused with
 * a clear reason rather than guessed.
 */
import { UnreadableRasterError } from '../errors.ts';
import { metresPerUnit, tryCrsFromEpsg } from '../../tiles/projection.ts';
import type { Crs, UserDefinedGeoKeys } from './types.ts';

/** The GeoKey code of a user-defined CRS, projection or geographic CRS. */
export const USER_DEFINED = 32767;

type Keys = Record<string, unknown>;

export function crsFromGeoKeys(keys: Keys | null, file: string): Crs {
  if (!keys) throw new UnreadableRasterError(`${file}: the TIFF has no GeoKeys (not georeferenced)`, { reason: 'no-georeferencing' });
  const model = keys.GTModelTypeGeoKey;
  const projected = keys.ProjectedCSTypeGeoKey;
  const geographic = keys.GeographicTypeGeoKey;
  const code = typeof projected === 'number' && (model === 1 || model === undefined || typeof geographic !== 'number')
    ? projected
    : typeof geographic === 'number' ? geographic : typeof projected === 'number' ? projected : null;
  if (code === null) throw new UnreadableRasterError(`${file}: the GeoKeys name no EPSG coordinate reference system`, { reason: 'no-crs' });
  if (code === USER_DEFINED) return userDefinedCrs(keys, file, code === projected);
  const crs = tryCrsFromEpsg(code);
  if (!crs) throw new UnreadableRasterError(`${file}: unknown CRS EPSG:${code}`, { reason: 'unknown-crs', epsg: code });
  return crs;
}

/** GeoKey ids (GeoTIFF 1.1, OGC 19-008) of the keys a user-defined CRS is made of, by geotiff.js's names. */
const KEY_IDS: Record<string, number> = {
  GTModelTypeGeoKey: 1024,
  GeographicTypeGeoKey: 2048, GeogGeodeticDatumGeoKey: 2050, GeogPrimeMeridianGeoKey: 2051, GeogAngularUnitsGeoKey: 2054,
  GeogEllipsoidGeoKey: 2056, GeogSemiMajorAxisGeoKey: 2057, GeogSemiMinorAxisGeoKey: 2058, GeogInvFlatteningGeoKey: 2059,
  GeogPrimeMeridianLongGeoKey: 2061,
  ProjectedCSTypeGeoKey: 3072, ProjectionGeoKey: 3074, ProjCoordTransGeoKey: 3075, ProjLinearUnitsGeoKey: 3076,
  ProjStdParallel1GeoKey: 3078, ProjStdParallel2GeoKey: 3079, ProjNatOriginLongGeoKey: 3080, ProjNatOriginLatGeoKey: 3081,
  ProjFalseEastingGeoKey: 3082, ProjFalseNorthingGeoKey: 3083, ProjFalseOriginLongGeoKey: 3084, ProjFalseOriginLatGeoKey: 3085,
  ProjFalseOriginEastingGeoKey: 3086, ProjFalseOriginNorthingGeoKey: 3087, ProjCenterLongGeoKey: 3088, ProjCenterLatGeoKey: 3089,
  ProjCenterEastingGeoKey: 3090, ProjCenterNorthingGeoKey: 3091, ProjScaleAtNatOriginGeoKey: 3092, ProjScaleAtCenterGeoKey: 3093,
  ProjAzimuthAngleGeoKey: 3094, ProjStraightVertPoleLongGeoKey: 3095, ProjRectifiedGridAngleGeoKey: 3096,
};
/** Citation keys (GeoAsciiParamsTag): GDAL names the CRS, datum and ellipsoid from them. */
const ASCII_KEY_IDS: Record<string, number> = { GTCitationGeoKey: 1026, GeogCitationGeoKey: 2049, PCSCitationGeoKey: 3073 };
/** Keys whose values are doubles (GeoDoubleParamsTag); the rest are SHORT codes. */
const DOUBLE_KEYS = new Set([2057, 2058, 2059, 2061, ...Array.from({ length: 19 }, (_, i) => 3078 + i)]);

const LINEAR_UNITS: Record<number, Crs['units']> = { 9001: 'm', 9002: 'ft', 9003: 'us-ft' };

/** The GeoTIFF code (ProjLinearUnitsGeoKey) of a linear unit this reader builds, by its length in metres; null for others. */
export function linearUnitCode(metres: number): number | null {
  for (const [code, units] of Object.entries(LINEAR_UNITS)) if (Math.abs(metresPerUnit({ units }) - metres) < 1e-12) return Number(code);
  return null;
}
const PROJ4_UNITS: Record<Crs['units'], string> = { m: 'm', ft: 'ft', 'us-ft': 'us-ft', degree: 'degrees' };

/** Coordinate transformation codes (ProjCoordTransGeoKey) -> proj4 projection parameters. */
const TRANSFORMS: Record<number, { name: string; proj4: (p: (name: string, fallback?: string) => number, has: (name: string) => boolean) => string }> = {
  1: { name: 'Transverse Mercator', proj4: (p) => `+proj=tmerc +lat_0=${p('NatOriginLat')} +lon_0=${p('NatOriginLong')} +k=${p('ScaleAtNatOrigin')} +x_0=${p('FalseEasting')} +y_0=${p('FalseNorthing')}` },
  // Mercator (2SP) gives its standard parallel, (1SP) its scale
  7: { name: 'Mercator', proj4: (p, has) => `+proj=merc +lon_0=${p('NatOriginLong')} ${has('StdParallel1') ? `+lat_ts=${p('StdParallel1')}` : `+k=${p('ScaleAtNatOrigin')}`} +x_0=${p('FalseEasting')} +y_0=${p('FalseNorthing')}` },
  8: { name: 'Lambert Conformal Conic (2SP)', proj4: (p) => `+proj=lcc +lat_1=${p('StdParallel1')} +lat_2=${p('StdParallel2')} +lat_0=${p('FalseOriginLat', 'NatOriginLat')} +lon_0=${p('FalseOriginLong', 'NatOriginLong')} +x_0=${p('FalseOriginEasting', 'FalseEasting')} +y_0=${p('FalseOriginNorthing', 'FalseNorthing')}` },
  9: { name: 'Lambert Conformal Conic (1SP)', proj4: (p) => `+proj=lcc +lat_1=${p('NatOriginLat')} +lat_0=${p('NatOriginLat')} +lon_0=${p('NatOriginLong')} +k_0=${p('ScaleAtNatOrigin')} +x_0=${p('FalseEasting')} +y_0=${p('FalseNorthing')}` },
  10: { name: 'Lambert Azimuthal Equal Area', proj4: (p) => `+proj=laea +lat_0=${p('CenterLat', 'NatOriginLat')} +lon_0=${p('CenterLong', 'NatOriginLong')} +x_0=${p('FalseEasting')} +y_0=${p('FalseNorthing')}` },
  11: { name: 'Albers Equal Area', proj4: (p) => `+proj=aea +lat_1=${p('StdParallel1')} +lat_2=${p('StdParallel2')} +lat_0=${p('NatOriginLat', 'FalseOriginLat')} +lon_0=${p('NatOriginLong', 'FalseOriginLong')} +x_0=${p('FalseEasting', 'FalseOriginEasting')} +y_0=${p('FalseNorthing', 'FalseOriginNorthing')}` },
  16: { name: 'Oblique Stereographic', proj4: (p) => `+proj=sterea +lat_0=${p('NatOriginLat')} +lon_0=${p('NatOriginLong')} +k=${p('ScaleAtNatOrigin')} +x_0=${p('FalseEasting')} +y_0=${p('FalseNorthing')}` },
  18: { name: 'Cassini-Soldner', proj4: (p) => `+proj=cass +lat_0=${p('NatOriginLat', 'CenterLat')} +lon_0=${p('NatOriginLong', 'CenterLong')} +x_0=${p('FalseEasting')} +y_0=${p('FalseNorthing')}` },
  // Hotine oblique Mercator: GeoTIFF's code 3 is variant A (false easting and northing at the
  // natural origin); variant B (at the projection centre) is GDAL's 9815
  3: { name: 'Hotine Oblique Mercator (variant A)', proj4: (p, has) => `+proj=omerc +no_uoff ${obliqueMercator(p, has)}` },
  9815: { name: 'Hotine Oblique Mercator (variant B)', proj4: (p, has) => `+proj=omerc ${obliqueMercator(p, has)}` },
};

/** The parameters both Hotine variants share; the grid's rotation is the azimuth's where none is given. */
function obliqueMercator(p: (name: string, fallback?: string) => number, has: (name: string) => boolean): string {
  const gamma = has('RectifiedGridAngle') ? p('RectifiedGridAngle') : p('AzimuthAngle');
  return `+lat_0=${p('CenterLat', 'NatOriginLat')} +lonc=${p('CenterLong', 'NatOriginLong')} +alpha=${p('AzimuthAngle')} +gamma=${gamma} +k=${p('ScaleAtCenter', 'ScaleAtNatOrigin')} +x_0=${p('FalseEasting', 'CenterEasting')} +y_0=${p('FalseNorthing', 'CenterNorthing')}`;
}

/** The projection methods a user-defined CRS may use, by name: what a refusal lists. */
export function builtProjections(): string {
  return Object.values(TRANSFORMS).map((t) => t.name).join(', ');
}

/** Defaults where a key is absent: scale 1, everything else 0 (as GDAL reads them). */
const DEFAULTS: Record<string, number> = { ScaleAtNatOrigin: 1, ScaleAtCenter: 1 };

function userDefinedCrs(keys: Keys, file: string, projected: boolean): Crs {
  const refuse = (why: string) => new UnreadableRasterError(`${file}: user-defined CRS: ${why}; reproject it to an EPSG CRS (e.g. gdalwarp -t_srs EPSG:...)`, { reason: 'user-defined-crs' });
  // projection angles are in the geographic CRS's angular unit: only degrees are read as such
  const angular = keys.GeogAngularUnitsGeoKey;
  if (angular !== undefined && angular !== 9102) throw refuse(`angular unit ${String(angular)} is not degrees`);
  const datum = datumProj4(keys, refuse);
  const written = writtenKeys(keys);
  if (!projected) return { epsg: null, proj4: `+proj=longlat ${datum} +no_defs`, name: 'geographic', units: 'degree', geoKeys: written };
  const unitCode = keys.ProjLinearUnitsGeoKey;
  const units = unitCode === undefined ? 'm' : LINEAR_UNITS[Number(unitCode)];
  if (!units) throw refuse(`linear unit ${String(unitCode)} is not metres or feet`);
  // a UTM zone named by its EPSG projection code on a datum without one (GDAL writes no parameters then)
  const projection = Number(keys.ProjectionGeoKey);
  const zone = projection >= 16001 && projection <= 16060 ? projection - 16000 : projection >= 16101 && projection <= 16160 ? projection - 16100 : 0;
  if (zone && keys.ProjCoordTransGeoKey === undefined) {
    return { epsg: null, proj4: `+proj=utm +zone=${zone}${projection > 16100 ? ' +south' : ''} ${datum} +units=${PROJ4_UNITS[units]} +no_defs`, name: `UTM zone ${zone}${projection > 16100 ? 'S' : 'N'}`, units, geoKeys: written };
  }
  const ct = keys.ProjCoordTransGeoKey;
  const transform = typeof ct === 'number' ? TRANSFORMS[ct] : undefined;
  if (!transform) throw refuse(`projection method ${typeof ct === 'number' ? ct : '(none given)'} is not one this reader builds (${builtProjections()})`);
  // false eastings and northings are in the CRS's linear unit (GeoTIFF 1.1), proj4's +x_0/+y_0 in metres
  const toMetres = metresPerUnit({ units });
  const param = (name: string, fallback?: string): number => {
    for (const n of [name, fallback]) {
      const v = n === undefined ? undefined : keys[`Proj${n}GeoKey`];
      if (typeof v === 'number' && Number.isFinite(v)) return /(Easting|Northing)$/.test(n!) ? v * toMetres : v;
    }
    return DEFAULTS[name] ?? 0;
  };
  const has = (name: string) => typeof keys[`Proj${name}GeoKey`] === 'number';
  const proj4 = `${transform.proj4(param, has)} ${datum} +units=${PROJ4_UNITS[units]} +no_defs`;
  return { epsg: null, proj4, name: transform.name, units, geoKeys: written };
}

/** The datum (or bare ellipsoid) part of a proj4 string, from an EPSG geographic CRS or the ellipsoid's axes. */
function datumProj4(keys: Keys, refuse: (why: string) => Error): string {
  const geographic = keys.GeographicTypeGeoKey;
  if (typeof geographic === 'number' && geographic !== USER_DEFINED) {
    const base = tryCrsFromEpsg(geographic);
    if (!base) throw refuse(`unknown geographic CRS EPSG:${geographic}`);
    return base.proj4.split(/\s+/).filter((t) => t && !/^\+(proj|no_defs|type|units)\b/.test(t)).join(' ');
  }
  const a = keys.GeogSemiMajorAxisGeoKey, rf = keys.GeogInvFlatteningGeoKey, b = keys.GeogSemiMinorAxisGeoKey;
  if (typeof a !== 'number' || !(a > 0)) throw refuse('no geographic CRS code and no ellipsoid axis');
  const shape = typeof rf === 'number' && rf > 0 ? `+rf=${rf}` : typeof b === 'number' && b > 0 ? `+b=${b}` : '+rf=0';
  const pm = keys.GeogPrimeMeridianLongGeoKey;
  // the datum is unknown: taken as aligned with WGS84, as GDAL does without TOWGS84 parameters
  return `+a=${a} ${shape}${typeof pm === 'number' && pm !== 0 ? ` +pm=${pm}` : ''}`;
}

/** The keys a writer copies to describe the same CRS in another file. */
function writtenKeys(keys: Keys): UserDefinedGeoKeys {
  const shorts: Array<[number, number]> = [], doubles: Array<[number, number]> = [], asciis: Array<[number, string]> = [];
  for (const [name, id] of Object.entries(KEY_IDS)) {
    const v = keys[name];
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    (DOUBLE_KEYS.has(id) ? doubles : shorts).push([id, v]);
  }
  for (const [name, id] of Object.entries(ASCII_KEY_IDS)) {
    const v = keys[name];
    if (typeof v === 'string') asciis.push([id, v]);
  }
  return { shorts, doubles, asciis };
}
