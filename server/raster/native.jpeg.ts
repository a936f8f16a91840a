/**
 * JPEG-compressed TIFF blocks (compression 7: GDAL's usual RGB COG, in YCbCr) decoded by
 * libjpeg-turbo through sharp, on libuv's threads. geotiff.js's JavaScript decoder read a 4096² RGB
 * image nine times slower than GDAL, on the thread that feeds the model. libjpeg also converts
 * YCbCr to RGB as GDAL's reads do (source.ts converts only YCbCr that is not JPEG). Registering it
 * is a side effect of importing this module (source.ts does).
 */
import sharp from 'sharp';
import { addDecoder, BaseDecoder, getDecoder } from 'geotiff';
import { blockParametersOf, type BlockParameters } from './block.parameters.ts';

interface JpegBlockParameters extends BlockParameters {
  /** The TIFF's JPEGTables: SOI, the quantisation and Huffman tables its blocks share, EOI. */
  jpegTables?: Uint8Array | null;
}

const SOI = [0xff, 0xd8];

/**
 * One block as a complete JPEG stream: TIFF blocks are abbreviated streams whose tables live once in
 * JPEGTables, so those tables (without their SOI and EOI) go in after the block's SOI.
 */
export function completeJpegStream(block: Uint8Array, tables: Uint8Array | null | undefined): Uint8Array {
  if (block[0] !== SOI[0] || block[1] !== SOI[1]) throw new Error('a JPEG block does not start with SOI');
  if (!tables || tables.length < 4) return block;
  const inner = tables.subarray(2, tables[tables.length - 2] === 0xff && tables[tables.length - 1] === 0xd9 ? tables.length - 2 : tables.length);
  const out = new Uint8Array(block.length + inner.length);
  out.set(block.subarray(0, 2), 0);
  out.set(inner, 2);
  out.set(block.subarray(2), 2 + inner.length);
  return out;
}

/** Samples in one block: all of a pixel's (chunky), or one band's (planar). */
function blockSamples(p: JpegBlockParameters): number {
  return p.planarConfiguration === 2 ? 1 : p.samplesPerPixel ?? 1;
}

/** One block's interleaved 8-bit samples, as libjpeg decodes them (YCbCr to RGB). */
export async function decodeJpegBlock(buffer: ArrayBufferLike, p: JpegBlockParameters): Promise<ArrayBuffer> {
  const stream = completeJpegStream(new Uint8Array(buffer), p.jpegTables);
  const tw = p.tileWidth ?? 0, th = p.tileHeight ?? 0;
  const spp = blockSamples(p);
  const image = sharp(stream, { limitInputPixels: Math.max(1, tw * th), failOn: 'error' });
  // libvips hands a one-component JPEG out as sRGB unless told to keep it grey
  const { data, info } = await (spp === 1 ? image.toColourspace('b-w') : image).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== spp) throw new Error(`a JPEG block decodes to ${info.channels} samples per pixel, the TIFF says ${spp}`);
  if (info.width !== tw || info.height > th) throw new Error(`a JPEG block of ${info.width}x${info.height} pixels in a TIFF of ${tw}x${th} blocks`);
  // a short last strip decodes to its own rows; geotiff.js reads what it holds
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data.buffer as ArrayBuffer : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}

// geotiff.js's own decoder (looked up before ours replaces it), for blocks of 2 or 4 samples:
// libjpeg (through libvips) would read four components as CMYK and convert them
const javascriptJpeg = getDecoder(7, { tileWidth: 1, tileHeight: 1, planarConfiguration: 1, bitsPerSample: 8, predictor: 1 } as never)
  .then((d) => d.constructor as new (parameters: unknown) => BaseDecoder);
javascriptJpeg.catch(() => undefined);

class NativeJpegDecoder extends BaseDecoder {
  private fallback: Promise<BaseDecoder> | null = null;

  override async decodeBlock(buffer: ArrayBufferLike): Promise<ArrayBufferLike> {
    const p = (this as unknown as { parameters: JpegBlockParameters }).parameters;
    const spp = blockSamples(p);
    if (spp === 1 || spp === 3) return decodeJpegBlock(buffer, p);
    this.fallback ??= javascriptJpeg.then((Decoder) => new Decoder({ ...p, JPEGTables: p.jpegTables ?? undefined }));
    return (await this.fallback).decodeBlock(buffer);
  }
}

const jpegParameters: NonNullable<Parameters<typeof addDecoder>[2]> = async (dir) => ({
  ...await blockParametersOf(dir, 1),
  jpegTables: ((await dir.loadValue('JPEGTables')) as Uint8Array | undefined) ?? null,
} as never);

addDecoder(7, async () => NativeJpegDecoder as unknown as typeof BaseDecoder, jpegParameters, false);
