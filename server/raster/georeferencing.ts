/**
 * Where a TIFF's CRS and pixel-to-map transform come from, in GDAL's order: an .aux.xml beside it,
 * the GeoKeys and their transformation tags, a world file with its .prj.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { GeoTIFFImage } from 'geotiff';
import { UnreadableRasterError } from '../errors.ts';
import { crsFromGeoKeys } from './crs.from.geokeys.ts';
import { crsFromWkt } from './crs.from.wkt.ts';
import type { RasterMetadata } from './metadata.ts';
import { MAX_AUX_XML_BYTES, pamOf } from './pam.ts';
import { tag, unreadable } from './tiff.tags.ts';
import type { Affine, Crs } from './types.ts';
import { parseWorldFile, prjOf, worldFileOf } from './world.file.ts';

async function affineOf(image: GeoTIFFImage, rasterType: unknown, path: string): Promise<Affine> {
  const mt = await tag<number[]>(image, 'ModelTransformation');
  let t: [number, number, number, number, number, number];
  if (mt && mt.length >= 16) {
    t = [mt[3], mt[0], mt[1], mt[7], mt[4], mt[5]];
  } else {
    const scale = await tag<number[]>(image, 'ModelPixelScale');
    const tie = await tag<number[]>(image, 'ModelTiepoint');
    if (!scale || !tie || tie.length < 6) throw unreadable(path, 'no georeferencing (neither ModelTransformation nor ModelPixelScale + ModelTiepoint)');
    const [i, j, , x, y] = tie;
    t = [x - i * scale[0], scale[0], 0, y + j * scale[1], 0, -scale[1]];
  }
  if (!t.every(Number.isFinite) || t[1] * t[5] - t[2] * t[4] === 0) throw unreadable(path, 'degenerate georeferencing (zero or non-finite pixel size)');
  if (rasterType === 2) {
    // PixelIsPoint: the tie point names a pixel centre; shift to the corner as GDAL does
    t = [t[0] - 0.5 * t[1] - 0.5 * t[2], t[1], t[2], t[3] - 0.5 * t[4] - 0.5 * t[5], t[4], t[5]];
  }
  return t;
}

const MAX_WORLD_FILE_BYTES = 4096;
/** Far beyond the longest WKT of a CRS (a few KB). */
const MAX_PRJ_BYTES = 65536;

/**
 * A TIFF without GeoKeys: georeferenced by a world file and .prj beside it, as GDAL reads one, when
 * the .prj names a CRS we can identify; otherwise refused with the gdal_translate that makes a
 * GeoTIFF of it.
 */
function worldFileGeoreferencing(path: string): { transform: Affine; crs: Crs } {
  const world = worldFileOf(path);
  // an upload arrives alone: its world file can only sit beside it in the data folder
  if (!world) throw new UnreadableRasterError(`${basename(path)}: the TIFF has no GeoKeys (not georeferenced); give a GeoTIFF, or put the TIFF in the data folder with its world file (.tfw) and .prj beside it`, { reason: 'no-georeferencing' });
  const refuse = (why: string, srs: string) => new UnreadableRasterError(
    `${basename(path)}: the TIFF has no GeoKeys and its world file ${basename(world)} ${why}: make a GeoTIFF of it with gdal_translate -of GTiff -a_srs ${srs} ${basename(path)} out.tif`,
    { reason: 'no-georeferencing' },
  );
  let transform: Affine;
  try {
    if (statSync(world).size > MAX_WORLD_FILE_BYTES) throw new Error('it is larger than a world file can be');
    transform = parseWorldFile(readFileSync(world, 'utf8'));
  } catch (err) {
    throw unreadable(path, `bad world file ${basename(world)}`, err);
  }
  // side files are read whole: one larger than any of its kind is not one
  const tooLarge = (p: string, max: number) => unreadable(path, `${basename(p)} is larger than ${max >> 10} KB, more than its kind of side file holds`);
  // the .prj first, then the SRS GDAL or ArcGIS kept in the .aux.xml
  const prj = prjOf(path), pam = prj ? null : pamOf(path);
  if (prj && statSync(prj).size > MAX_PRJ_BYTES) throw tooLarge(prj, MAX_PRJ_BYTES);
  if (pam?.tooLarge) throw tooLarge(pam.file, MAX_AUX_XML_BYTES);
  const aux = pam?.file ?? null;
  const wkt = prj ? readFileSync(prj, 'utf8') : pam ? pam.srs : null;
  if (wkt === null) throw refuse(`has no .prj (nor an .aux.xml with an SRS) beside it to say the CRS`, 'EPSG:<code>');
  try {
    return { transform, crs: crsFromWkt(wkt, basename(prj ?? aux!)) };
  } catch (err) {
    if (!(err instanceof UnreadableRasterError)) throw err;
    // gdal_translate's -a_srs takes a .prj file; an .aux.xml's SRS GDAL reads itself
    throw refuse(`has ${prj ? 'a .prj' : `an SRS in ${basename(aux!)}`} whose CRS this reader does not build (${err.message})`, prj ? basename(prj) : 'EPSG:<code>');
  }
}

/**
 * The CRS and transform where GDAL's GeoTIFF driver finds them (GDAL_GEOREF_SOURCES, default PAM,
 * INTERNAL, WORLDFILE): each from the .aux.xml beside the file when it states one (QGIS's "assign
 * projection" on a GeoTIFF and GDAL's SetProjection on a read-only one write them there), else from
 * the GeoKeys, else from a world file. A TIFF with neither GeoKeys nor a world file is read from
 * an .aux.xml stating both.
 */
export async function georeferencingOf(path: string, main: GeoTIFFImage, keys: Record<string, unknown> | null): Promise<{ crs: Crs; transform: Affine; georeferencing: RasterMetadata['georeferencing'] }> {
  const pam = pamOf(path);
  // one too large to be a side file is not read (its band values are not either)
  const stated = pam && !pam.tooLarge ? pam : null;
  const pamTransform = stated?.geoTransform ?? null;
  const pamCrs = (): Crs | null => {
    if (!stated?.srs) return null;
    try {
      return crsFromWkt(stated.srs, basename(stated.file));
    } catch (err) {
      if (!(err instanceof UnreadableRasterError)) throw err;
      throw unreadable(path, `${basename(stated.file)} beside it states an SRS, which GDAL reads before the file's own, and this reader does not build that CRS (${err.message}): take the <SRS> out of ${basename(stated.file)}, or write the CRS into the file with gdal_translate -a_srs EPSG:<code>`);
    }
  };
  if (keys) {
    const crs = pamCrs();
    return {
      crs: crs ?? crsFromGeoKeys(keys, basename(path)),
      transform: pamTransform ?? await affineOf(main, keys.GTRasterTypeGeoKey, path),
      georeferencing: crs || pamTransform ? 'aux.xml' : 'geotiff',
    };
  }
  if (pamTransform && stated?.srs && !worldFileOf(path)) return { crs: pamCrs()!, transform: pamTransform, georeferencing: 'aux.xml' };
  // the world file's SRS: its .prj, else the .aux.xml's. GDAL writes a world file and an .aux.xml
  // with the same geotransform together (PROFILE=BASELINE, TFW=YES); where both state one, it
  // takes the .aux.xml's
  const world = worldFileGeoreferencing(path);
  return { ...world, transform: pamTransform ?? world.transform, georeferencing: 'world-file' };
}
