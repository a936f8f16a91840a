/**
 * The CRS of a .prj or .aux.xml (WKT1, ESRI's dialect or GDAL's): its EPSG code when it names one
 * (an AUTHORITY, or ESRI's name of a UTM zone checked against its parameters), else its parameters
 * turned into the GeoKeys of a user-defined CRS, so the one builder of user-defined CRSs
 * (crs.from.geokeys.ts) makes it and files written in it carry those keys. State Plane zones in
 * feet, national grids and custom projections of county orthophotos come this way.
 */
import { UnreadableRasterError } from '../errors.ts';
import { builtProjections, crsFromGeoKeys, linearUnitCode, USER_DEFINED } from './crs.from.geokeys.ts';
import { tryCrsFromEpsg } from '../../tiles/projection.ts';
import type { Crs } from './types.ts';

/** A WKT node: its keyword, its quoted strings and numbers, and its child nodes, in order. */
export interface WktNode {
  keyword: string;
  values: Array<string | number>;
  children: WktNode[];
}

/** Deeper than any CRS's WKT nests (a compound CRS: about 6): a corrupt file must not exhaust the stack. */
const MAX_DEPTH = 32;
const KEYWORD = /[A-Za-z_][A-Za-z0-9_]*/y, NUMBER = /[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/y, WORD = /[A-Za-z_]+/y, SPACE = /\s*/y;

/** WKT1 (and the ESRI dialect) as a tree; null when the text is not WKT. */
export function parseWkt(text: string): WktNode | null {
  let i = 0;
  const s = text.trim();
  // sticky expressions match at i without copying the rest of the text
  const at = (re: RegExp): string | null => {
    re.lastIndex = i;
    const m = re.exec(s);
    return m ? m[0] : null;
  };
  const space = () => { i += at(SPACE)!.length; };
  const node = (depth: number): WktNode | null => {
    if (depth > MAX_DEPTH) return null;
    space();
    const keyword = at(KEYWORD);
    if (!keyword) return null;
    i += keyword.length;
    space();
    const open = s[i];
    if (open !== '[' && open !== '(') return null;
    const close = open === '[' ? ']' : ')';
    i++;
    const n: WktNode = { keyword: keyword.toUpperCase(), values: [], children: [] };
    for (;;) {
      space();
      if (s[i] === '"') {
        const end = s.indexOf('"', i + 1);
        if (end < 0) return null;
        n.values.push(s.slice(i + 1, end));
        i = end + 1;
      } else if (/[-+.\d]/.test(s[i] ?? '')) {
        const num = at(NUMBER);
        if (!num) return null;
        n.values.push(Number(num));
        i += num.length;
      } else if (/[A-Za-z]/.test(s[i] ?? '')) {
        const start = i;
        const child = node(depth + 1);
        if (!child) {
          i = start;
          // an enumeration such as AXIS["X", EAST]: a bare word
          const word = at(WORD);
          if (!word) return null;
          n.values.push(word);
          i += word.length;
        } else n.children.push(child);
      } else return null;
      space();
      if (s[i] === ',') { i++; continue; }
      if (s[i] === close) { i++; return n; }
      return null;
    }
  };
  const root = node(0);
  space();
  return root && i === s.length ? root : null;
}

const child = (n: WktNode, keyword: string) => n.children.find((c) => c.keyword === keyword);

/** A projection's PARAMETER nodes by lower-case name. */
function parametersOf(n: WktNode): Map<string, number> {
  const params = new Map<string, number>();
  for (const p of n.children) if (p.keyword === 'PARAMETER' && typeof p.values[1] === 'number') params.set(String(p.values[0]).toLowerCase(), p.values[1]);
  return params;
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
  return root ? epsgOfTree(root) : { epsg: null, reason: 'it is not WKT' };
}

function epsgOfTree(root: WktNode): { epsg: number } | { epsg: null; reason: string } {
  const code = epsgOf(root);
  if (code !== null) return { epsg: code };
  const name = String(root.values[0] ?? '');
  if (root.keyword === 'GEOGCS' && name === 'GCS_WGS_1984') return { epsg: 4326 };
  if (root.keyword === 'PROJCS' && name === 'WGS_1984_Web_Mercator_Auxiliary_Sphere') return { epsg: 3857 };
  const utm = /^(WGS_1984|NAD_1983|NAD_1927|ETRS_1989)_UTM_Zone_(\d{1,2})([NS])$/.exec(name);
  if (root.keyword === 'PROJCS' && utm) {
    const datum = UTM_DATUMS[utm[1]], zone = Number(utm[2]), south = utm[3] === 'S';
    const base = south ? datum.south : datum.north;
    if (base === null || zone < datum.zones[0] || zone > datum.zones[1]) return { epsg: null, reason: `${name} has no EPSG code` };
    const unit = child(root, 'UNIT'), p = parametersOf(root);
    const ok = p.get('central_meridian') === zone * 6 - 183 && p.get('scale_factor') === 0.9996
      && p.get('false_easting') === 500000 && p.get('false_northing') === (south ? 10000000 : 0)
      && (!unit || unit.values[1] === 1);
    return ok ? { epsg: base + zone - 1 } : { epsg: null, reason: `its parameters are not those of ${name}` };
  }
  return { epsg: null, reason: `${root.keyword} "${name.slice(0, 80)}" names no EPSG code` };
}

/** ESRI's (and GDAL's WKT1) projection names -> GeoTIFF coordinate transformation codes. */
const METHODS: Record<string, number | ((params: Map<string, number>) => number)> = {
  transverse_mercator: 1, gauss_kruger: 1,
  mercator: 7, mercator_1sp: 7, mercator_2sp: 7,
  // ESRI writes both conic variants as Lambert_Conformal_Conic: a scale other than 1 makes it the
  // 1SP one (ESRI may repeat its parallel as Standard_Parallel_2), two parallels the 2SP one
  lambert_conformal_conic: (p) => ((p.get('scale_factor') ?? 1) !== 1 || !p.has('standard_parallel_2') ? 9 : 8), lambert_conformal_conic_2sp: 8, lambert_conformal_conic_1sp: 9,
  lambert_azimuthal_equal_area: 10,
  albers: 11, albers_conic_equal_area: 11,
  double_stereographic: 16, oblique_stereographic: 16,
  cassini_soldner: 18, cassini: 18,
  // GDAL's WKT1 names and ESRI's: variant A (natural origin) and variant B (projection centre)
  hotine_oblique_mercator: 3, hotine_oblique_mercator_azimuth_natural_origin: 3, rectified_skew_orthomorphic_natural_origin: 3,
  hotine_oblique_mercator_azimuth_center: 9815, rectified_skew_orthomorphic_center: 9815,
};

/** WKT parameter names -> the GeoKeys holding them (in the CRS's own units, as GeoTIFF stores them). */
const PARAMETERS: Record<string, string> = {
  false_easting: 'ProjFalseEastingGeoKey', false_northing: 'ProjFalseNorthingGeoKey',
  central_meridian: 'ProjNatOriginLongGeoKey', longitude_of_center: 'ProjNatOriginLongGeoKey', longitude_of_origin: 'ProjNatOriginLongGeoKey',
  latitude_of_origin: 'ProjNatOriginLatGeoKey', latitude_of_center: 'ProjNatOriginLatGeoKey',
  scale_factor: 'ProjScaleAtNatOriginGeoKey',
  standard_parallel_1: 'ProjStdParallel1GeoKey', standard_parallel_2: 'ProjStdParallel2GeoKey',
  azimuth: 'ProjAzimuthAngleGeoKey', rectified_grid_angle: 'ProjRectifiedGridAngleGeoKey', xy_plane_rotation: 'ProjRectifiedGridAngleGeoKey',
};

/** Geographic CRSs by ESRI's name, for the datum (with its shift to WGS84 where EPSG gives one). */
const GEOGRAPHIC: Record<string, number> = {
  GCS_WGS_1984: 4326, GCS_North_American_1983: 4269, GCS_North_American_1927: 4267, GCS_ETRS_1989: 4258,
  GCS_GDA_1994: 4283, GCS_GDA2020: 7844, GCS_NAD_1983_2011: 6318, GCS_North_American_1983_HARN: 4152, GCS_North_American_1983_CSRS: 4617,
};

/** A node's own EPSG code (AUTHORITY in WKT1, ID in WKT2), or null. */
function epsgOf(n: WktNode): number | null {
  const auth = child(n, 'AUTHORITY') ?? child(n, 'ID');
  return auth && String(auth.values[0]).toUpperCase() === 'EPSG' && Number.isInteger(Number(auth.values[1])) ? Number(auth.values[1]) : null;
}

/**
 * The CRS a WKT1 text describes: the EPSG CRS it names, else built from its parameters (`file`
 * names it in errors). Throws UnreadableRasterError saying why when it uses a method, unit or
 * shape we do not build.
 */
export function crsFromWkt(text: string, file: string): Crs {
  const refuse = (why: string) => new UnreadableRasterError(`${file}: ${why}`, { reason: 'user-defined-crs' });
  const root = parseWkt(text);
  if (!root) throw refuse('it is not WKT');
  const id = epsgOfTree(root);
  const known = id.epsg === null ? null : tryCrsFromEpsg(id.epsg);
  if (known) return known;
  const geog = root.keyword === 'GEOGCS' ? root : root.keyword === 'PROJCS' ? child(root, 'GEOGCS') : undefined;
  if (!geog) throw refuse(`a ${root.keyword} is not a CRS this reader builds (PROJCS or GEOGCS)`);
  const keys: Record<string, unknown> = { GTModelTypeGeoKey: root === geog ? 2 : 1, GTRasterTypeGeoKey: 1 };

  const angular = child(geog, 'UNIT');
  // degrees: the only angular unit parameters are read in
  keys.GeogAngularUnitsGeoKey = !angular || Math.abs(Number(angular.values[1]) - Math.PI / 180) < 1e-12 ? 9102 : 9105;
  const geogName = String(geog.values[0] ?? '');
  const geogCode = epsgOf(geog) ?? GEOGRAPHIC[geogName] ?? null;
  if (geogCode !== null) keys.GeographicTypeGeoKey = geogCode;
  else {
    const spheroid = child(geog, 'DATUM') && child(child(geog, 'DATUM')!, 'SPHEROID');
    if (!spheroid || typeof spheroid.values[1] !== 'number' || typeof spheroid.values[2] !== 'number') throw refuse(`its geographic CRS ${geogName} gives no ellipsoid`);
    Object.assign(keys, { GeographicTypeGeoKey: USER_DEFINED, GeogSemiMajorAxisGeoKey: spheroid.values[1], GeogInvFlatteningGeoKey: spheroid.values[2], GeogCitationGeoKey: geogName });
    const primem = child(geog, 'PRIMEM');
    if (primem && typeof primem.values[1] === 'number' && primem.values[1] !== 0) keys.GeogPrimeMeridianLongGeoKey = primem.values[1];
  }
  if (root === geog) return crsFromGeoKeys(keys, file);

  const name = String(root.values[0] ?? '');
  const method = String(child(root, 'PROJECTION')?.values[0] ?? '');
  const params = parametersOf(root);
  const code = METHODS[method.toLowerCase()];
  if (code === undefined) throw refuse(`its projection ${method || '(none)'} is not one this reader builds (${builtProjections()})`);
  const unit = child(root, 'UNIT');
  const unitCode = linearUnitCode(unit ? Number(unit.values[1]) : 1);
  if (unitCode === null) throw refuse(`its linear unit ${String(unit?.values[0])} (${String(unit?.values[1])} m) is not metres or feet`);
  Object.assign(keys, { ProjectedCSTypeGeoKey: USER_DEFINED, ProjectionGeoKey: USER_DEFINED, PCSCitationGeoKey: name, ProjCoordTransGeoKey: typeof code === 'function' ? code(params) : code, ProjLinearUnitsGeoKey: unitCode });
  for (const [p, v] of params) {
    const key = PARAMETERS[p];
    if (key) keys[key] = v;
  }
  return crsFromGeoKeys(keys, file);
}
