/**
 * The data types every pipeline stage shares: a raster travels with its georeference
 * (as rio-tiler's ImageData does), so no stage needs to ask where a pixel lies.
 */

/** GDAL-order affine transform: x = t[0] + col*t[1] + row*t[2]; y = t[3] + col*t[4] + row*t[5]. */
export type Affine = readonly [number, number, number, number, number, number];

export interface Crs {
  /** EPSG code when the GeoKeys name one, else null (user-defined CRS). */
  epsg: number | null;
  /** proj4 definition string, from a maintained EPSG database (or built from a user-defined CRS's GeoKeys). */
  proj4: string;
  /** Human name of the CRS when known. */
  name: string | null;
  /** Linear units of the CRS axes: 'm', 'ft', 'us-ft' or 'degree'. */
  units: 'm' | 'ft' | 'us-ft' | 'degree';
  /** A user-defined CRS's GeoKeys as read (key id, value), so a file written in it says the same. */
  geoKeys?: UserDefinedGeoKeys;
}

/** GeoKeys of a user-defined CRS: SHORT-valued keys, DOUBLE-valued ones (GeoDoubleParamsTag), citations (GeoAsciiParamsTag). */
export interface UserDefinedGeoKeys {
  shorts: Array<[number, number]>;
  doubles: Array<[number, number]>;
  asciis: Array<[number, string]>;
}

/** A pixel grid in a CRS: where each pixel of a width x height raster lies. */
export interface Grid {
  width: number;
  height: number;
  transform: Affine;
  crs: Crs;
}

/** A pixel window in some grid. May extend past the grid's edges (reads fill with nodata). */
export interface Window {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Pixels with their georeference: band planes as float32, plus which pixels are valid. */
export interface RasterImage {
  grid: Grid;
  /** One plane per band, row-major, length width*height. */
  bands: Float32Array[];
  /** 1 where the pixel holds data, 0 for nodata / masked / outside the source. Null: all valid. */
  mask: Uint8Array | null;
}

export type SampleType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';
