/**
 * A raster file's version: what caches, catalog entries and job units are keyed by, so that a file
 * replaced on disk is never answered from work done on the old one. Its size and mtime, plus the
 * world file and CRS file of a raster georeferenced by them (world.file.ts) and the band values
 * its .aux.xml states (pam.ts).
 */
import { statSync } from 'node:fs';
import { prjOf, worldFileOf } from './world.file.ts';
import { auxXmlOf, pamVersion } from './pam.ts';

function versionFromStat(s: { size: number; mtimeMs: number }): string {
  return `${s.size.toString(36)}-${Math.round(s.mtimeMs).toString(36)}`;
}

/** The version of the raster file at `path` now, or null when it is gone. */
export function fileVersion(path: string): string | null {
  try {
    return versionFromStat(statSync(path)) + sidecarVersion(path);
  } catch {
    return null;
  }
}

/**
 * What changes a raster from outside its file, as a version suffix: the world file and the .prj
 * (or the .aux.xml, without a .prj) beside a TIFF georeferenced by them, the nodata, scale and
 * offset an .aux.xml states, and GDAL's external mask (.msk: which pixels hold data). Not the
 * .aux.xml as a whole: QGIS rewrites a GeoTIFF's statistics there, and that must not throw away
 * its computed canopy heights.
 */
export function sidecarVersion(path: string): string {
  const world = worldFileOf(path);
  const georef = world ? statVersion(world) + statVersion(prjOf(path) ?? auxXmlOf(path)) : '';
  const mask = statVersion(`${path}.msk`);
  return georef + pamVersion(path) + (mask && `_msk${mask}`);
}

/** External overviews (<file>.ovr) and their masks (.msk.ovr) as a version suffix: what the reader opens changes with them, the full resolution's pixels do not. */
export function overviewVersion(path: string): string {
  return statVersion(`${path}.ovr`) + statVersion(`${path}.msk.ovr`);
}

function statVersion(p: string | null): string {
  if (!p) return '';
  try {
    return `_${versionFromStat(statSync(p))}`;
  } catch {
    return ''; // absent, or gone between the lookup and the stat
  }
}
