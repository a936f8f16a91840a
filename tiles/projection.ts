/**
 * CRS lookup and coordinate transforms. Definitions come from the maintained `epsg-index`
 * package (one JSON file per code, loaded on first use), never a hand-typed table; each proj4
 * converter is built once per CRS pair and cached, as linz/basemaps' Projection does.
 */
import { createRequire } from 'node:module';
import proj4 from 'proj4';
import { InvalidInputError } from '../server/errors.ts';
import type { Crs } from '../server/raster/types.ts';

const require = createRequire(import.meta.url);

interface EpsgRecord {
  code: string;
  kind: string;
  name: string;
  proj4: string;
  unit: string | null;
}

const crsByCode = new Map<number, Crs | null>();

function unitsOf(record: EpsgRecord): Crs['units'] {
  const unit = (record.unit ?? '').toLowerCase();
  if (unit.startsWith('degree')) return 'degree';
  if (unit.includes('us survey foot')) return 'us-ft';
  if (unit.includes('foot')) return 'ft';
  if (/\+proj=longlat/.test(record.proj4)) return 'degree';
  if (/\+units=us-ft/.test(record.proj4)) return 'us-ft';
  if (/\+units=ft/.test(record.proj4)) return 'ft';
  return 'm';
}

/** The CRS for an EPSG code, or null when the code is unknown or has no proj4 definition. */
export function tryCrsFromEpsg(code: number): Crs | null {
  if (!Number.isInteger(code) || code <= 0 || code > 10_000_000) return null;
  if (crsByCode.has(code)) return crsByCode.get(code)!;
  let crs: Crs | null = null;
  try {
    const record = require(`epsg-index/s/${code}.json`) as EpsgRecord;
    // Only coordinate reference systems with a usable proj4 string; datums, ellipsoids, etc. are not CRSs.
    if (record.proj4 && record.kind?.startsWith('CRS-') && !record.kind.includes('VERTCRS') && !record.kind.includes('GCENCRS')) {
      crs = { epsg: code, proj4: record.proj4, name: record.name ?? null, units: unitsOf(record) };
    }
  } catch {
    crs = null;
  }
  crsByCode.set(code, crs);
  return crs;
}

/** The CRS for an EPSG code; throws InvalidInputError when the code is unknown. */
export function crsFromEpsg(code: number): Crs {
  const crs = tryCrsFromEpsg(code);
  if (!crs) throw new InvalidInputError(`unknown or unsupported CRS EPSG:${code}`, { epsg: code });
  return crs;
}

/** A CRS from a proj4 string alone (user-defined CRS); throws InvalidInputError if proj4 cannot parse it. */
export function crsFromProj4(definition: string, name: string | null = null): Crs {
  try {
    proj4(definition, WGS84_PROJ4);
  } catch (err) {
    throw new InvalidInputError(`unusable proj4 definition '${definition}': ${(err as Error).message}`);
  }
  const units: Crs['units'] = /\+proj=longlat/.test(definition) ? 'degree'
    : /\+units=us-ft/.test(definition) ? 'us-ft' : /\+units=ft/.test(definition) ? 'ft' : 'm';
  return { epsg: null, proj4: definition, name, units };
}

const WGS84_PROJ4 = '+proj=longlat +datum=WGS84 +no_defs +type=crs';
export const WGS84: Crs = tryCrsFromEpsg(4326) ?? { epsg: 4326, proj4: WGS84_PROJ4, name: 'WGS 84', units: 'degree' };
export const WEB_MERCATOR: Crs = tryCrsFromEpsg(3857)!;

/** Two CRSs are the same when their EPSG codes match, or (user-defined) their proj4 strings do. */
export function sameCrs(a: Crs, b: Crs): boolean {
  if (a.epsg !== null && b.epsg !== null) return a.epsg === b.epsg;
  return a.proj4 === b.proj4;
}

/** Metres per unit of a CRS's linear axes (degrees: metres per degree at the equator). */
export function metresPerUnit(crs: Pick<Crs, 'units'>): number {
  switch (crs.units) {
    case 'ft': return 0.3048;
    case 'us-ft': return 1200 / 3937;
    case 'degree': return (Math.PI * 6378137) / 180;
    default: return 1;
  }
}

/** A Mercator projection (Web Mercator EPSG:3857, World Mercator EPSG:3395, ...): its units are not ground metres away from the equator. */
export function isMercator(crs: Crs): boolean {
  return /\+proj=merc\b/.test(crs.proj4);
}

/** The WGS84 UTM zone CRS (EPSG:326NN north, 327NN south) holding a point; null past UTM's 84 N / 80 S. */
export function utmCrsFor(lon: number, lat: number): Crs | null {
  if (!(lat >= -80 && lat <= 84) || !Number.isFinite(lon)) return null;
  const wrapped = ((((lon + 180) % 360) + 360) % 360) - 180;
  const zone = Math.min(60, Math.floor((wrapped + 180) / 6) + 1);
  return crsFromEpsg((lat >= 0 ? 32600 : 32700) + zone);
}

/** Central meridian of a UTM zone CRS (from its proj4 +zone). */
export function utmCentralMeridian(crs: Crs): number {
  const zone = Number(/\+zone=(\d+)/.exec(crs.proj4)?.[1]);
  return zone * 6 - 183;
}

export type Projector = (x: number, y: number) => [number, number];
const converters = new Map<string, Projector>();

/** A cached point transformer from one CRS to another (x/y order: easting/northing, lon/lat). */
export function projector(from: Crs, to: Crs): Projector {
  const key = `${from.epsg ?? from.proj4}>${to.epsg ?? to.proj4}`;
  let fn = converters.get(key);
  if (!fn) {
    if (sameCrs(from, to)) {
      fn = (x, y) => [x, y];
    } else {
      const converter = proj4(from.proj4, to.proj4);
      fn = (x, y) => {
        const p = converter.forward([x, y]);
        return [p[0], p[1]];
      };
    }
    converters.set(key, fn);
  }
  return fn;
}
