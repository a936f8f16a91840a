/**
 * Reads a GeoTIFF back through GDAL (python3-gdal), so tests check our writers against the
 * reference implementation rather than against our own reader. One Python process per call.
 */
import { spawnSync } from 'node:child_process';

export const PYTHON = process.env.FORESTMAP_PYTHON ?? '/usr/bin/python3';

/** Why GDAL checks cannot run here, or false when they can (for `test(..., { skip })`). */
export const gdalMissing: string | false = (() => {
  const r = spawnSync(PYTHON, ['-c', 'from osgeo import gdal; from osgeo_utils.samples import validate_cloud_optimized_geotiff'], { stdio: 'ignore' });
  return r.status === 0 ? false : `python3-gdal not available under ${PYTHON}`;
})();

export interface GdalLevel {
  width: number;
  height: number;
  blockWidth: number;
  blockHeight: number;
  /** Per band, the raw samples in the file's data type (little-endian), base64-decoded. */
  bands: Buffer[];
}

export interface GdalReport {
  driver: string;
  dataType: string;
  bandCount: number;
  geoTransform: number[];
  epsg: number | null;
  /** 'nan' when the nodata value is NaN. */
  nodata: number | 'nan' | null;
  imageStructure: Record<string, string>;
  levels: GdalLevel[];
  cogErrors: string[];
  cogWarnings: string[];
  /** Anything GDAL logged (warnings) while opening and reading. */
  gdalMessages: string[];
}

const SCRIPT = String.raw`
import sys, json, base64
from osgeo import gdal, osr
from osgeo_utils.samples import validate_cloud_optimized_geotiff as v
messages = []
def handler(cls, code, msg):
    messages.append(msg)
gdal.PushErrorHandler(handler)
path, read_pixels, max_levels = sys.argv[1], sys.argv[2] == '1', int(sys.argv[3])
ds = gdal.Open(path)
b1 = ds.GetRasterBand(1)
srs = ds.GetSpatialRef()
epsg = None
if srs is not None:
    srs.AutoIdentifyEPSG()
    code = srs.GetAuthorityCode(None)
    epsg = int(code) if code else None
levels = []
sources = [ds.GetRasterBand(i + 1) for i in range(ds.RasterCount)]
for lv in range(min(1 + b1.GetOverviewCount(), max_levels)):
    bands = [s if lv == 0 else s.GetOverview(lv - 1) for s in sources]
    bw, bh = bands[0].GetBlockSize()
    data = [base64.b64encode(b.ReadRaster()).decode() if read_pixels else '' for b in bands]
    levels.append(dict(width=bands[0].XSize, height=bands[0].YSize, blockWidth=bw, blockHeight=bh, bands=data))
nodata = b1.GetNoDataValue()
if nodata is not None and nodata != nodata:
    nodata = 'nan'
errors, warnings = [], []
try:
    warnings, errors, _ = v.validate(path, full_check=True)
except Exception as e:
    errors = [str(e)]
out = dict(driver=ds.GetDriver().ShortName, dataType=gdal.GetDataTypeName(b1.DataType), bandCount=ds.RasterCount,
  geoTransform=list(ds.GetGeoTransform()), epsg=epsg, nodata=nodata,
  imageStructure=ds.GetMetadata('IMAGE_STRUCTURE'), levels=levels, cogErrors=errors, cogWarnings=warnings,
  overviewCount=b1.GetOverviewCount(), gdalMessages=messages)
print(json.dumps(out, allow_nan=True))
`;

export function gdalInspect(path: string, opts: { pixels?: boolean; maxLevels?: number } = {}): GdalReport & { overviewCount: number } {
  const r = spawnSync(PYTHON, ['-c', SCRIPT, path, opts.pixels === false ? '0' : '1', String(opts.maxLevels ?? 99)], { encoding: 'utf8', maxBuffer: 512 << 20 });
  if (r.status !== 0) throw new Error(`gdal inspect failed: ${r.stderr}`);
  const raw = JSON.parse(r.stdout);
  raw.levels = raw.levels.map((l: { bands: string[] }) => ({ ...l, bands: l.bands.map((b) => Buffer.from(b, 'base64')) }));
  return raw;
}

/** `gdalinfo` (the CLI, as CI has it) output and its stderr, to check for warnings. */
export function gdalinfo(path: string, ...args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync('gdalinfo', [...args, path], { encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

const TO_WGS84 = String.raw`
import sys, json
from osgeo import gdal, osr
ds = gdal.Open(sys.argv[1])
s = osr.SpatialReference(wkt=ds.GetProjection())
t = osr.SpatialReference(); t.ImportFromEPSG(4326)
for r in (s, t): r.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(s, t)
print(json.dumps([list(ct.TransformPoint(x, y)[:2]) for x, y in json.loads(sys.argv[2])]))
`;

/** Points in a GeoTIFF's CRS as GDAL/PROJ maps them to WGS84 lon/lat. */
export function gdalToWgs84(path: string, points: Array<[number, number]>): Array<[number, number]> {
  const r = spawnSync(PYTHON, ['-c', TO_WGS84, path, JSON.stringify(points)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gdal transform failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Whether GDAL reads the same spatial reference from two files (OGRSpatialReference::IsSame). */
export function gdalSameSrs(a: string, b: string): boolean {
  const r = spawnSync(PYTHON, ['-c', 'import sys\nfrom osgeo import gdal, osr\ns = [osr.SpatialReference(wkt=gdal.Open(p).GetProjection()) for p in sys.argv[1:3]]\nprint(1 if s[0].IsSame(s[1]) else 0)', a, b], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gdal srs comparison failed: ${r.stderr}`);
  return r.stdout.trim() === '1';
}
