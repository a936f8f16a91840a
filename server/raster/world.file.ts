/**
 * Georeferencing kept beside a TIFF rather than in it: an ESRI world file (.tfw: six numbers) and a
 * .prj (the CRS as ESRI WKT) or an .aux.xml holding it, as ArcGIS, GDAL and older orthophoto
 * deliveries write them. GDAL reads the
 * world file of a TIFF without GeoKeys; so do we, and take the CRS from the .prj when it names one
 * we can identify as an EPSG code (its AUTHORITY, or ESRI's name of a UTM zone checked against its
 * parameters). Pure parsing here; the file lookups are the functions at the end.
 */
import { existsSync, statSync } from 'node:fs';
import type { Affine } from './types.ts';

/**
 * A world file's transform: lines A (x pixel size), D, B (rotation terms), E (y pixel size), C, F
 * (the centre of the top-left pixel), as the GDAL affine of the top-left corner.
 */
export function parseWorldFile(text: string): Affine {
  const values = text.trim().split(/\s+/).map(Number);
  if (values.length !== 6 || !values.every(Number.isFinite)) throw new Error('a world file holds six numbers, one per line');
  const [a, d, b, e, c, f] = values;
  if (a * e - b * d === 0) throw new Error('its pixel size is zero');
  return [c - a / 2 - b / 2, a, b, f - d / 2 - e / 2, d, e];
}

/** A WKT node: its keyword, its quoted strings and numbers, and its child nodes, in order. */
interface WktNode {
  keyword: string;
  values: Array<string | number>;
  children: WktNode[];
}

/** WKT1 (and the ESRI dialect) as a tree; null when the text is not WKT. */
export function parseWkt(text: string): WktNode | null {
  let i = 0;
  const s = text.trim();
  const space = () => { while (i < s.length && /\s/.test(s[i])) i++; };
  const node = (): WktNode | null => {
    space();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i, i + 64));
    if (!m) return null;
    i += m[0].length;
    space();
    const open = s[i];
    if (open !== '[' && open !== '(') return null;
    const close = open === '[' ? ']' : ')';
    i++;
    const n: WktNode = { keyword: m[0].toUpperCase(), values: [], children: [] };
    for (;;) {
      space();
      if (s[i] === '"') {
        const end = s.indexOf('"', i + 1);
        if (end < 0) return null;
        n.values.push(s.slice(i + 1, end));
        i = end + 1;
      } else if (/[-+.\d]/.test(s[i] ?? '')) {
        const num = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(s.slice(i));
        if (!num) return null;
        n.values.push(Number(num[0]));
        i += num[0].length;
      } else if (/[A-Za-z]/.test(s[i] ?? '')) {
        const at = i;
        const child = node();
        if (!child) {
          i = at;
          // an enumeration such as AXIS["X", EAST]: a bare word
          const word = /^[A-Za-z_]+/.exec(s.slice(i));
          if (!word) return null;
          n.values.push(word[0]);
          i += word[0].length;
        } else n.children.push(child);
      } else return null;
      space();
      if (s[i] === ',') { i++; continue; }
      if (s[i] === close) { i++; return n; }
      return null;
    }
  };
  const root = node();
  space();
  return root && i === s.length ? root : null;
}

const child = (n: WktNode, keyword: string) => n.children.find((c) => c.keyword === keyword);

function parameter(n: WktNode, name: string): number | null {
  const p = n.children.find((c) => c.keyword === 'PARAMETER' && String(c.values[0]).toLowerCase() === name.toLowerCase());
  return p && typeof p.values[1] === 'number' ? p.values[1] : null;
}

// ESRI's names of UTM zones by datum: EPSG code of zone 1 north, of zone 1 south, and the zones it defines
const UTM_DATUMS: Record<string, { north: number; south: number | null; zones: [number, number] }> = {
  WGS_1984: { north: 32601, south: 32701, zones: [1, 60] },
  NAD_1983: { north: 26901, south: null, zones: [1, 23] },
  NAD_1927: { north: 26701, south: null, zones: [1, 22] },
  ETRS_1989: { north: 25801, south: null, zones: [28, 38] },
};

/**
 * The EPSG code a .prj's WKT stands for, or null with the reason: the root's AUTHORITY["EPSG", n]
 * (GDAL writes it), ESRI's GCS_WGS_1984 and Web Mercator, or ESRI's "<datum>_UTM_Zone_<n><N|S>" for
 * the datums above, whose central meridian, scale and false easting must be the zone's.
 */
export function epsgFromWkt(text: string): { epsg: number } | { epsg: null; reason: string } {
  const root = parseWkt(text);
  if (!root) return { epsg: null, reason: 'it is not WKT' };
  const auth = child(root, 'AUTHORITY') ?? child(root, 'ID');
  if (auth && String(auth.values[0]).toUpperCase() === 'EPSG' && Number.isInteger(Number(auth.values[1]))) return { epsg: Number(auth.values[1]) };
  const name = String(root.values[0] ?? '');
  if (root.keyword === 'GEOGCS' && name === 'GCS_WGS_1984') return { epsg: 4326 };
  if (root.keyword === 'PROJCS' && name === 'WGS_1984_Web_Mercator_Auxiliary_Sphere') return { epsg: 3857 };
  const utm = /^(WGS_1984|NAD_1983|NAD_1927|ETRS_1989)_UTM_Zone_(\d{1,2})([NS])$/.exec(name);
  if (root.keyword === 'PROJCS' && utm) {
    const datum = UTM_DATUMS[utm[1]], zone = Number(utm[2]), south = utm[3] === 'S';
    const base = south ? datum.south : datum.north;
    if (base === null || zone < datum.zones[0] || zone > datum.zones[1]) return { epsg: null, reason: `${name} has no EPSG code` };
    const unit = child(root, 'UNIT');
    const ok = parameter(root, 'Central_Meridian') === zone * 6 - 183 && parameter(root, 'Scale_Factor') === 0.9996
      && parameter(root, 'False_Easting') === 500000 && parameter(root, 'False_Northing') === (south ? 10000000 : 0)
      && (!unit || unit.values[1] === 1);
    return ok ? { epsg: base + zone - 1 } : { epsg: null, reason: `its parameters are not those of ${name}` };
  }
  return { epsg: null, reason: `${root.keyword} "${name.slice(0, 80)}" names no EPSG code` };
}

/** The world file beside a raster (the names GDAL tries, lower or upper case), or null. */
export function worldFileOf(path: string): string | null {
  const stem = path.replace(/\.[^./\\]*$/, '');
  const ext = /\.[^./\\]*$/.exec(path)?.[0] ?? '';
  // GDAL's order: the extension's first and last letters and a "w" (.tif: .tfw; .jpg: .jgw), the
  // extension and a "w", then .wld
  const names = [`${ext.slice(0, 2)}${ext.slice(-1)}w`, `${ext}w`, '.wld'];
  for (const n of names) for (const e of [n.toLowerCase(), n.toUpperCase()]) if (existsSync(stem + e)) return stem + e;
  return null;
}

/** The .prj beside a raster, or null. */
export function prjOf(path: string): string | null {
  const stem = path.replace(/\.[^./\\]*$/, '');
  for (const e of ['.prj', '.PRJ']) if (existsSync(stem + e)) return stem + e;
  return null;
}

/** GDAL's side file of a raster (its PAM .aux.xml, which ArcGIS writes too), or null. */
export function auxXmlOf(path: string): string | null {
  return existsSync(`${path}.aux.xml`) ? `${path}.aux.xml` : null;
}

/** The CRS (WKT) in an .aux.xml's <SRS> element, or null. */
export function srsOfAuxXml(xml: string): string | null {
  const m = /<SRS\b[^>]*>([\s\S]*?)<\/SRS>/.exec(xml);
  if (!m) return null;
  const text = m[1].replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&').trim();
  return text || null;
}

/**
 * What changes a raster from outside its file: its world file, .prj, .aux.xml and external overviews (.ovr), as a
 * version suffix (empty when there are none), so caches keyed by the file's version see an edit.
 */
export function sidecarVersion(path: string): string {
  let v = '';
  for (const p of [worldFileOf(path), prjOf(path), auxXmlOf(path), existsSync(`${path}.ovr`) ? `${path}.ovr` : null]) {
    if (!p) continue;
    try {
      const s = statSync(p);
      v += `_${s.size.toString(36)}-${Math.round(s.mtimeMs).toString(36)}`;
    } catch {
      // gone between the lookup and the stat: as if absent
    }
  }
  return v;
}
