/**
 * An RFC 7946 validity check for the FeatureCollections jobs export (test helper): structure,
 * WGS84 ranges, at most 7 decimals, closed rings of 4+ positions, exterior rings counter-clockwise
 * and holes clockwise, no self-intersecting ring (turf kinks), holes inside their exterior, and
 * the tree properties. Returns the problems found (empty: valid).
 */
import { booleanPointInPolygon, kinks } from '@turf/turf';
import type { Position } from 'geojson';

const PROPS = ['id', 'height_m', 'crown_area_m2', 'crown_diameter_m'];

function signedArea(ring: Position[]): number {
  let s = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) s += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
  return s / 2;
}

function checkPosition(p: unknown, where: string, out: string[]): boolean {
  if (!Array.isArray(p) || p.length < 2 || p.length > 3 || !p.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    out.push(`${where}: not a position`);
    return false;
  }
  const [lon, lat] = p as number[];
  if (lon < -180 || lon > 180 || lat < -90 || lat > 90) out.push(`${where}: [${lon}, ${lat}] outside WGS84 ranges`);
  for (const v of [lon, lat]) if (Math.round(v * 1e7) / 1e7 !== v) out.push(`${where}: ${v} has more than 7 decimals`);
  return true;
}

function checkPolygon(rings: unknown, where: string, out: string[]): void {
  if (!Array.isArray(rings) || rings.length === 0) {
    out.push(`${where}: polygon without rings`);
    return;
  }
  rings.forEach((ring, r) => {
    const w = `${where} ring ${r}`;
    if (!Array.isArray(ring) || ring.length < 4) {
      out.push(`${w}: fewer than 4 positions`);
      return;
    }
    if (!ring.every((p, i) => checkPosition(p, `${w} pos ${i}`, out))) return;
    const a = ring[0], b = ring[ring.length - 1];
    if (a[0] !== b[0] || a[1] !== b[1]) out.push(`${w}: not closed`);
    const area = signedArea(ring);
    if (r === 0 && !(area > 0)) out.push(`${w}: exterior ring is not counter-clockwise`);
    if (r > 0 && !(area < 0)) out.push(`${w}: hole is not clockwise`);
    if (kinks({ type: 'Polygon', coordinates: [ring] }).features.length) out.push(`${w}: ring intersects itself`);
    if (r > 0 && Array.isArray(rings[0]) && !booleanPointInPolygon(ring[0], { type: 'Polygon', coordinates: [rings[0]] }, { ignoreBoundary: false })) {
      out.push(`${w}: hole lies outside the exterior ring`);
    }
  });
}

export function rfc7946Problems(doc: unknown, geometryType: 'Point' | 'Polygon'): string[] {
  const out: string[] = [];
  const fc = doc as { type?: unknown; features?: unknown; crs?: unknown };
  if (fc?.type !== 'FeatureCollection') return ['not a FeatureCollection'];
  if (fc.crs !== undefined) out.push('has a "crs" member (RFC 7946 removed it)');
  if (!Array.isArray(fc.features)) return ['features is not an array'];
  fc.features.forEach((f: any, i: number) => {
    const where = `feature ${i}`;
    if (f?.type !== 'Feature') { out.push(`${where}: type is not Feature`); return; }
    for (const k of PROPS) if (typeof f.properties?.[k] !== 'number' || !Number.isFinite(f.properties[k])) out.push(`${where}: property ${k} missing or not a number`);
    if (f.geometry?.type !== geometryType) { out.push(`${where}: geometry is ${f.geometry?.type}, expected ${geometryType}`); return; }
    if (geometryType === 'Point') checkPosition(f.geometry.coordinates, where, out);
    else checkPolygon(f.geometry.coordinates, where, out);
  });
  return out;
}
