import { numberFlag, outputFileFlag, parseFlags, requireFlag } from './args.ts';
import { UsageError } from './main.ts';
import { readPointCloud } from '../pointcloud/las.reader.ts';
import { chmFromPoints } from '../pointcloud/chm.from.points.ts';
import { writeCogImage } from '../raster/cog.writer.ts';
import { crsFromEpsg } from '../../tiles/projection.ts';

export const usage = `forestmap chm --points X.laz --out chm.tif --res 1 [options]

Makes a canopy height model GeoTIFF (float32 metres, nodata -9999, COG) from a LAS/LAZ point cloud
(LAS 1.0-1.4, point formats 0-10): heights above ground (when the cloud is not normalised, Z minus
an IDW ground surface from the class-2 points), then the highest return per cell (lidR p2r).

  --points FILE       .las or .laz
  --out FILE          CHM GeoTIFF to write
  --res M             cell size in metres (default 1)
  --subcircle M       lidR p2r subcircle radius in metres (default 0)
  --crs EPSG:CODE     CRS when the file names none (or to override it); feet units are converted
  --ground MODE       auto (default) | normalised (Z is already height) | idw
  --min-height M      drop points lower than this height (default 0)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    points: { type: 'string' }, out: { type: 'string' }, res: { type: 'string' }, subcircle: { type: 'string' },
    crs: { type: 'string' }, ground: { type: 'string' }, 'min-height': { type: 'string' },
  });
  const points = requireFlag(values.points, 'points');
  const out = outputFileFlag(values.out, 'out');
  const res = numberFlag(values.res, 'res', 1, 0.01, 1000);
  const subcircle = numberFlag(values.subcircle, 'subcircle', 0, 0, 50);
  const minHeight = numberFlag(values['min-height'], 'min-height', 0, -1000, 1000);
  let crs = null;
  if (values.crs !== undefined) {
    const m = /^(?:EPSG:)?(\d+)$/i.exec(values.crs.trim());
    if (!m) throw new UsageError(`--crs must look like EPSG:32617, got '${values.crs}'`);
    crs = crsFromEpsg(Number(m[1]));
  }
  const ground = values.ground ?? 'auto';
  if (!['auto', 'normalised', 'normalized', 'idw'].includes(ground)) throw new UsageError(`--ground must be auto, normalised or idw, got '${ground}'`);
  const t0 = performance.now();
  const cloud = await readPointCloud(points);
  const r = chmFromPoints(cloud, { res, subcircle, crs, ground: ground === 'normalized' ? 'normalised' : ground as 'auto' | 'normalised' | 'idw', minHeight });
  await writeCogImage(out, r.image, { sampleType: 'float32', nodata: -9999 });
  const { width, height, crs: outCrs } = r.image.grid;
  console.log(`${out}: ${width}x${height} cells of ${res} m from ${cloud.count} points (${outCrs.epsg ? `EPSG:${outCrs.epsg}` : outCrs.name}, heights ${r.normalised === 'idw' ? `above an IDW ground from ${r.groundPoints} class-2 points` : 'as stored (normalised)'}) in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  return 0;
}
