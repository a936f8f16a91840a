/** What the catalog and `forestmap info` say about a raster: the shape of GET /api/rasters/:id. */
import type { Affine, Crs, SampleType } from './types.ts';
import type { Photometric } from './colour.ts';

export interface RasterLevelInfo {
  width: number;
  height: number;
  /** Pixel size in CRS units at this level (x, y: positive numbers). */
  resolution: [number, number];
}

export interface RasterMetadata {
  crs: Crs;
  /** Native CRS bounds [minX, minY, maxX, maxY]. */
  bounds: [number, number, number, number];
  /** WGS84 bounds [west, south, east, north]. */
  wgs84Bounds: [number, number, number, number];
  width: number;
  height: number;
  transform: Affine;
  /** Pixel size in CRS units (x, y). */
  resolution: [number, number];
  /** Ground sample distance in metres (mean of x and y pixel size; degrees and Mercator units converted at the centre). */
  gsd: number;
  /** Data bands (alpha excluded). */
  bandCount: number;
  sampleType: SampleType;
  nodata: number | null;
  /** Overviews, finest first (full resolution excluded): internal, or from <file>.ovr (externalOverviews). */
  overviews: RasterLevelInfo[];
  layout: 'tiled' | 'stripped';
  blockSize: [number, number];
  planarConfig: 'chunky' | 'planar';
  compression: string;
  /**
   * Per data band [scale, offset] from GDAL's metadata, when any is not [1, 0]: values are read as
   * stored x scale + offset (so in float32), while sampleType stays the stored type.
   */
  bandScaling: Array<[number, number]> | null;
  /** How the samples map to colours (the TIFF's PhotometricInterpretation); YCbCr is read as RGB. */
  photometric: Photometric;
  hasAlpha: boolean;
  /** A GDAL mask masks the image: internal, or in <file>.msk (externalMask). */
  hasMask: boolean;
  /** The mask is GDAL's external <file>.msk (with <file>.msk.ovr for external overviews). */
  externalMask: boolean;
  fileSize: number;
  /**
   * Where the CRS and transform come from: the TIFF's GeoKeys, a world file and .prj beside it, or
   * (one or both, as GDAL takes them first) the .aux.xml beside it.
   */
  georeferencing: 'geotiff' | 'world-file' | 'aux.xml';
  /** The overviews are in an external <file>.ovr (the file has none of its own). */
  externalOverviews: boolean;
}

const COMPRESSIONS: Record<number, string> = {
  1: 'none', 2: 'ccittrle', 3: 'ccittfax3', 4: 'ccittfax4', 5: 'lzw', 6: 'ojpeg', 7: 'jpeg', 8: 'deflate',
  32773: 'packbits', 32946: 'deflate', 34712: 'jpeg2000', 34887: 'lerc', 34925: 'lzma', 50000: 'zstd', 50001: 'webp', 50002: 'jpegxl',
};

/** Compressions decoded here: geotiff.js's, WebP through libwebp (native.webp.ts) and LZMA (tiff.lzma.ts). */
const DECODABLE = new Set([1, 5, 7, 8, 32773, 32946, 34887, 34925, 50000, 50001]);

export function decodable(code: number): boolean {
  return DECODABLE.has(code);
}

export function compressionName(code: number | undefined): string {
  if (code === undefined) return 'none';
  return COMPRESSIONS[code] ?? `tiff-${code}`;
}

export function sampleTypeOf(format: number, bits: number): SampleType | null {
  if (format === 3) return bits === 32 ? 'float32' : bits === 64 ? 'float64' : null;
  const signed = format === 2;
  switch (bits) {
    case 8: return signed ? 'int8' : 'uint8';
    case 16: return signed ? 'int16' : 'uint16';
    case 32: return signed ? 'int32' : 'uint32';
    default: return null;
  }
}
