/**
 * What a file that is not a TIFF is, from its first bytes, so that the refusal can say how to get a
 * GeoTIFF from it. Orthophotos often come as JPEG 2000 (national mapping agencies, Sentinel-2) or
 * as JPEG / PNG with a world file; a point cloud or a VRT given where imagery belongs is a
 * mistake worth naming. Pure: bytes in, words out.
 */

/** How many leading bytes `notTiffAdvice` looks at. */
export const SNIFF_BYTES = 32;

interface Kind {
  what: string;
  /** `{file}` and `{stem}` are replaced by the file's name and its name without extension. */
  advice: string;
}

const TRANSLATE = 'convert it to a GeoTIFF with gdal_translate -of COG {file} {stem}.tif';
const WITH_WORLD_FILE = `${TRANSLATE} (GDAL takes its georeferencing from a world file and .prj beside it)`;

function startsWith(head: Uint8Array, bytes: number[], at = 0): boolean {
  return head.length >= at + bytes.length && bytes.every((b, i) => head[at + i] === b);
}

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

function kindOf(head: Uint8Array): Kind | null {
  if (startsWith(head, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(head, [0xff, 0x4f, 0xff, 0x51])) {
    return { what: 'a JPEG 2000 image', advice: TRANSLATE };
  }
  if (startsWith(head, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20]) || startsWith(head, [0xff, 0x0a])) return { what: 'a JPEG XL image', advice: TRANSLATE };
  if (startsWith(head, [0xff, 0xd8, 0xff])) return { what: 'a JPEG image', advice: WITH_WORLD_FILE };
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47])) return { what: 'a PNG image', advice: WITH_WORLD_FILE };
  if (startsWith(head, ascii('GIF8'))) return { what: 'a GIF image', advice: WITH_WORLD_FILE };
  if (startsWith(head, ascii('RIFF')) && startsWith(head, ascii('WEBP'), 8)) return { what: 'a WebP image', advice: WITH_WORLD_FILE };
  if (startsWith(head, ascii('EHFA_HEADER_TAG'))) return { what: 'an ERDAS Imagine (.img) raster', advice: TRANSLATE };
  if (startsWith(head, ascii('msid'))) return { what: 'a MrSID image', advice: `${TRANSLATE} (with a GDAL built with MrSID support)` };
  if (startsWith(head, ascii('CDF')) || startsWith(head, [0x89, 0x48, 0x44, 0x46])) return { what: 'a netCDF or HDF file', advice: TRANSLATE };
  if (startsWith(head, ascii('LASF'))) return { what: 'a LAS/LAZ point cloud', advice: 'make a canopy height model from it with forestmap chm --points {file} --out {stem}_chm.tif' };
  if (startsWith(head, ascii('PK'))) return { what: 'a ZIP archive', advice: 'unzip it and give the GeoTIFF inside' };
  const text = new TextDecoder().decode(head).trimStart();
  if (text.startsWith('<VRTDataset')) return { what: 'a GDAL virtual raster (VRT)', advice: TRANSLATE };
  if (/^(ncols|nrows|xllcorner|xllcenter)\b/i.test(text)) return { what: 'an ASCII grid', advice: TRANSLATE };
  if (text.startsWith('{') || text.startsWith('[')) return { what: 'JSON, not a raster', advice: 'give a GeoTIFF' };
  return null;
}

/** Whether the bytes begin as a TIFF or BigTIFF, in either byte order. */
export function hasTiffHeader(head: Uint8Array): boolean {
  return startsWith(head, [0x49, 0x49, 0x2a, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2a])
    || startsWith(head, [0x49, 0x49, 0x2b, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2b]);
}

/**
 * The reason a file that geotiff.js would not open is not a TIFF, with what to do about it, e.g.
 * "it is a JPEG 2000 image: convert it to a GeoTIFF with gdal_translate -of COG a.jp2 a.tif".
 */
export function notTiffAdvice(head: Uint8Array, fileName: string): string {
  if (head.length === 0) return 'the file is empty';
  const kind = kindOf(head);
  if (!kind) return 'it does not start with a TIFF header';
  let stem = fileName.replace(/\.[^./]*$/, '') || fileName;
  // a JPEG named .tif must not be told to convert onto itself
  if (`${stem}.tif`.toLowerCase() === fileName.toLowerCase()) stem = `${stem}-cog`;
  return `it is ${kind.what}: ${kind.advice.replaceAll('{file}', fileName).replaceAll('{stem}', stem)}`;
}
