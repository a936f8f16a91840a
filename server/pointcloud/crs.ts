/**
 * The CRS of a LAS file from its VLRs: the GeoTIFF GeoKeyDirectory (LASF_Projection 34735) or
 * OGC WKT (LASF_Projection 2112, required for point formats 6-10). Only EPSG-coded CRSs are
 * resolved; anything else is null and the caller asks for --crs.
 */
import { tryCrsFromEpsg } from '../../tiles/projection.ts';
import type { Crs } from '../raster/types.ts';
import type { LasHeader } from './las.header.ts';

const LINEAR_UNIT_METRES: Record<number, number> = { 9001: 1, 9002: 0.3048, 9003: 1200 / 3937 };

function geoKeys(h: LasHeader): Map<number, number> | null {
  const vlr = h.vlrs.find((r) => r.userId === 'LASF_Projection' && r.recordId === 34735);
  if (!vlr || vlr.data.length < 8) return null;
  const v = new DataView(vlr.data.buffer, vlr.data.byteOffset, vlr.data.byteLength);
  const n = v.getUint16(6, true);
  const keys = new Map<number, number>();
  for (let k = 0; k < n && 8 + 8 * k + 8 <= vlr.data.length; k++) {
    const o = 8 + 8 * k;
    const id = v.getUint16(o, true), loc = v.getUint16(o + 2, true), value = v.getUint16(o + 6, true);
    if (loc === 0) keys.set(id, value); // short values inline; doubles/ASCII live elsewhere and are not needed here
  }
  return keys;
}

function wktText(h: LasHeader): string | null {
  const vlr = h.vlrs.find((r) => r.userId === 'LASF_Projection' && r.recordId === 2112);
  return vlr ? new TextDecoder().decode(vlr.data).replace(/\0+$/, '') : null;
}

/** EPSG of the outermost CRS in a WKT1 or WKT2 string: its AUTHORITY/ID is the last at depth 1. */
export function epsgFromWkt(wkt: string): number | null {
  let depth = 0, last: number | null = null;
  const re = /AUTHORITY\s*\[\s*"EPSG"\s*,\s*"?(\d+)"?\s*\]|ID\s*\[\s*"EPSG"\s*,\s*(\d+)\s*\]|[\[\]()]/gi;
  let m: RegExpExecArray | null;
  while ((m = re.exec(wkt))) {
    const t = m[0];
    if (t === '[' || t === '(') depth++;
    else if (t === ']' || t === ')') depth--;
    else if (depth === 1) last = Number(m[1] ?? m[2]);
  }
  return last;
}

export function crsFromVlrs(h: LasHeader): Crs | null {
  const wkt = wktText(h);
  if (wkt) {
    const code = epsgFromWkt(wkt);
    const crs = code ? tryCrsFromEpsg(code) : null;
    if (crs) return crs;
  }
  const keys = geoKeys(h);
  if (keys) {
    const code = keys.get(3072) ?? keys.get(2048);
    const crs = code && code !== 32767 ? tryCrsFromEpsg(code) : null;
    if (crs) {
      const unit = keys.get(3076);
      // a ProjLinearUnits key that disagrees with the EPSG definition wins (some writers rely on it)
      if (unit && LINEAR_UNIT_METRES[unit] !== undefined) {
        const units: Crs['units'] = unit === 9002 ? 'ft' : unit === 9003 ? 'us-ft' : 'm';
        return { ...crs, units };
      }
      return crs;
    }
  }
  return null;
}

/** Metres per Z unit: the VerticalUnits GeoKey, else the CRS's linear units, else metres. */
export function verticalMetresPerUnit(h: LasHeader, crs: Crs | null): number {
  const keys = geoKeys(h);
  const vu = keys?.get(4099);
  if (vu && LINEAR_UNIT_METRES[vu] !== undefined) return LINEAR_UNIT_METRES[vu];
  if (crs?.units === 'ft') return 0.3048;
  if (crs?.units === 'us-ft') return 1200 / 3937;
  return 1;
}
