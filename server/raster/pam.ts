/**
 * GDAL's PAM side file, `<raster>.aux.xml`: what GDAL (and ArcGIS, QGIS through GDAL) keep about a
 * raster they could not or would not write into it. A nodata value set on a read-only GeoTIFF, a
 * band's scale and offset, an SRS. GDAL's GeoTIFF driver reads a band's nodata, scale and offset
 * from the file first and from the .aux.xml when the file has none; this reader does the same.
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

// parsed .aux.xml files by path, checked against their size and mtime: every raster open (each
// map tile's read) asks for its side file's values, and one with histograms can be large
const parsed = new Map<string, { stamp: string; bands: PamBand[] }>();
const MAX_PARSED = 256;

/** The PAM band values beside `path` (empty without an .aux.xml stating any, or one too large to be one). */
export function pamBandsOf(path: string): PamBand[] {
  const aux = auxXmlOf(path);
  if (!aux) return [];
  try {
    const s = statSync(aux);
    const stamp = `${s.size}/${s.mtimeMs}`;
    const hit = parsed.get(aux);
    if (hit?.stamp === stamp) return hit.bands;
    const bands = s.size <= MAX_AUX_XML_BYTES ? pamBands(readFileSync(aux, 'utf8')) : [];
    parsed.delete(aux);
    parsed.set(aux, { stamp, bands });
    if (parsed.size > MAX_PARSED) parsed.delete(parsed.keys().next().value!);
    return bands;
  } catch {
    return []; // gone between the lookup and the read
  }
}

/**
 * The PAM band values beside `path` as a version suffix: editing the nodata, scale or offset there
 * changes what the raster reads as, while QGIS rewriting its statistics must not throw away the
 * canopy heights computed from it. Empty when the .aux.xml states none.
 */
export function pamVersion(path: string): string {
  const bands = pamBandsOf(path);
  if (!bands.length) return '';
  // NaN and infinities do not survive JSON: spell every value out
  const text = bands.map((b) => `${b.band}:${b.nodata}:${b.scale}:${b.offset}`).join(';');
  return `_p${createHash('sha256').update(text).digest('base64url').slice(0, 10)}`;
}
