/**
 * GDAL's PAM side file, `<raster>.aux.xml`: what GDAL (and ArcGIS, QGIS through GDAL) keep about a
 * raster they could not or would not write into it. A nodata value set on a read-only GeoTIFF, a
 * band's scale and offset, an SRS, a geotransform. GDAL's GeoTIFF driver reads a band's nodata,
 * scale and offset from the file first and from the .aux.xml when the file has none, and the SRS
 * and geotransform from the .aux.xml first (GDAL_GEOREF_SOURCES: PAM, then the file's GeoKeys,
 * then a world file); this reader does the same.
 * Parsing is pure; the lookups beside a file follow it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';

/** Larger than any .aux.xml of a few bands with statistics and histograms: a bigger one is not read. */
export const MAX_AUX_XML_BYTES = 1 << 20;

/** One `<PAMRasterBand>`'s values (null: not stated). `band` is GDAL's 1-based band number. */
export interface PamBand {
  band: number;
  nodata: number | null;
  scale: number | null;
  offset: number | null;
}

/** GDAL's side file of a raster (its PAM .aux.xml, which ArcGIS writes too), or null. */
export function auxXmlOf(path: string): string | null {
  return existsSync(`${path}.aux.xml`) ? `${path}.aux.xml` : null;
}

function unescapeXml(text: string): string {
  return text.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The CRS (WKT) in an .aux.xml's <SRS> element, or null. */
export function srsOfAuxXml(xml: string): string | null {
  const m = /<SRS\b[^>]*>([\s\S]*?)<\/SRS>/.exec(xml);
  if (!m) return null;
  const text = unescapeXml(m[1]).trim();
  return text || null;
}

/**
 * The affine transform in an .aux.xml's <GeoTransform> (GDAL's order: x0, x per column, x per
 * row, y0, y per column, y per row), or null when it states none or not six finite numbers.
 */
export function geoTransformOfAuxXml(xml: string): [number, number, number, number, number, number] | null {
  const m = /<GeoTransform\b[^>]*>([\s\S]*?)<\/GeoTransform>/.exec(xml);
  if (!m) return null;
  const v = unescapeXml(m[1]).split(',').map((t) => (t.trim() === '' ? NaN : Number(t)));
  if (v.length !== 6 || !v.every(Number.isFinite) || v[1] * v[5] - v[2] * v[4] === 0) return null;
  return v as [number, number, number, number, number, number];
}

/** A number as GDAL writes one in PAM: decimal, or nan / inf / -inf. Null when it is neither. */
function pamNumber(text: string | undefined): number | null {
  if (text === undefined) return null;
  const t = unescapeXml(text).trim().toLowerCase();
  if (t === 'nan' || t === '-nan') return NaN;
  if (t === 'inf' || t === '+inf' || t === 'infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  if (t === '') return null;
  const v = Number(t);
  return Number.isNaN(v) ? null : v;
}

/** The bands' nodata, scale and offset stated in an .aux.xml, in band order (bands stating none are left out). */
export function pamBands(xml: string): PamBand[] {
  const out: PamBand[] = [];
  for (const m of xml.matchAll(/<PAMRasterBand\b([^>]*)>([\s\S]*?)<\/PAMRasterBand>/g)) {
    const band = Number(/\bband\s*=\s*"(\d+)"/.exec(m[1])?.[1]);
    if (!(Number.isInteger(band) && band >= 1)) continue;
    // the band's own elements, not those inside its histograms or metadata
    const body = m[2].replace(/<(Histograms|Metadata|GDALRasterAttributeTable|CategoryNames)\b[\s\S]*?<\/\1>/g, '');
    const element = (name: string) => new RegExp(`<${name}\\b[^>]*>([\\s\\S]*?)</${name}>`).exec(body)?.[1];
    const p: PamBand = { band, nodata: pamNumber(element('NoDataValue')), scale: pamNumber(element('Scale')), offset: pamNumber(element('Offset')) };
    if (p.nodata !== null || p.scale !== null || p.offset !== null) out.push(p);
  }
  return out.sort((a, b) => a.band - b.band);
}

/** What the reader takes from the .aux.xml beside a raster, read and parsed once per version of it. */
export interface PamFile {
  /** The .aux.xml's path. */
  file: string;
  /** Over MAX_AUX_XML_BYTES: not read, so nothing below is taken from it. */
  tooLarge: boolean;
  bands: PamBand[];
  /** The CRS (WKT) it holds, or null. */
  srs: string | null;
  /** The geotransform it holds, or null. */
  geoTransform: [number, number, number, number, number, number] | null;
  /**
   * The band values, SRS and geotransform as a version suffix: editing them there changes what
   * the raster reads as, while QGIS rewriting its statistics must not throw away the canopy
   * heights computed from it. Empty when it states none.
   */
  version: string;
}

// parsed .aux.xml files by path, checked against their size and mtime: every raster open (each
// map tile's read) asks for its side file's version, and one with histograms can be large
const parsed = new Map<string, { stamp: string; pam: PamFile }>();
const MAX_PARSED = 256;

function versionOf(bands: PamBand[], srs: string | null, geoTransform: readonly number[] | null): string {
  if (!bands.length && srs === null && geoTransform === null) return '';
  // NaN and infinities do not survive JSON: spell every value out
  let text = bands.map((b) => `${b.band}:${b.nodata}:${b.scale}:${b.offset}`).join(';');
  // georeferencing only where it is stated: band values alone version as they always have
  if (srs !== null || geoTransform !== null) text += `|${srs ?? ''}|${geoTransform?.join(',') ?? ''}`;
  return `_p${createHash('sha256').update(text).digest('base64url').slice(0, 10)}`;
}

/** The .aux.xml beside `path`, parsed, or null when there is none. */
export function pamOf(path: string): PamFile | null {
  const file = auxXmlOf(path);
  if (!file) return null;
  try {
    const s = statSync(file);
    const stamp = `${s.size}/${s.mtimeMs}`;
    const hit = parsed.get(file);
    if (hit?.stamp === stamp) return hit.pam;
    const tooLarge = s.size > MAX_AUX_XML_BYTES;
    const xml = tooLarge ? '' : readFileSync(file, 'utf8');
    const bands = pamBands(xml), srs = srsOfAuxXml(xml), geoTransform = geoTransformOfAuxXml(xml);
    const pam: PamFile = { file, tooLarge, bands, srs, geoTransform, version: versionOf(bands, srs, geoTransform) };
    parsed.delete(file);
    parsed.set(file, { stamp, pam });
    if (parsed.size > MAX_PARSED) parsed.delete(parsed.keys().next().value!);
    return pam;
  } catch {
    return null; // gone between the lookup and the read
  }
}

/** The PAM band values beside `path` (empty without an .aux.xml stating any, or one too large to be one). */
export function pamBandsOf(path: string): PamBand[] {
  return pamOf(path)?.bands ?? [];
}

/** PamFile.version of the .aux.xml beside `path`; empty without one. */
export function pamVersion(path: string): string {
  return pamOf(path)?.version ?? '';
}
