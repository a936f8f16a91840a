/**
 * WebP-compressed TIFF tiles (GDAL's COMPRESS=WEBP, rio-cogeo's webp profile). geotiff.js decodes
 * them only in a browser (createImageBitmap); here libwebp does, through sharp, on libuv's threads.
 * Registering it is a side effect of importing this module (source.ts does).
 */
import sharp from 'sharp';
import { addDecoder, BaseDecoder } from 'geotiff';
import { blockParametersOf, type BlockParameters } from './block.parameters.ts';

/** Samples per pixel: the TIFF's tag when the parameters carry it, else one per BitsPerSample entry. */
function samplesOf(p: BlockParameters): number {
  if (p.samplesPerPixel) return p.samplesPerPixel;
  return typeof p.bitsPerSample === 'number' || p.bitsPerSample === undefined ? 1 : p.bitsPerSample.length;
}

/**
 * One tile's interleaved 8-bit samples, tileWidth x tileHeight of them: a WebP holds RGB or RGBA
 * whatever the TIFF says, so the alpha channel is added or dropped to match SamplesPerPixel, and a
 * picture smaller than the tile (a writer that crops edge tiles) is placed at its top left.
 */
export async function decodeWebpTile(buffer: ArrayBufferLike, p: BlockParameters): Promise<ArrayBuffer> {
  const spp = samplesOf(p);
  if (spp !== 3 && spp !== 4) throw new Error(`a WebP tile holds 3 or 4 samples per pixel, the TIFF says ${spp}`);
  const tw = p.tileWidth ?? 0, th = p.tileHeight ?? 0;
  const image = sharp(new Uint8Array(buffer as ArrayBuffer), { limitInputPixels: Math.max(1, tw * th) });
  const { data, info } = await (spp === 4 ? image.ensureAlpha() : image.removeAlpha()).raw().toBuffer({ resolveWithObject: true });
  if (info.width === tw && info.height === th) {
    return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data.buffer as ArrayBuffer : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  }
  if (info.width > tw || info.height > th) throw new Error(`a WebP tile of ${info.width}x${info.height} pixels is larger than the TIFF's ${tw}x${th} tiles`);
  const out = new Uint8Array(tw * th * spp);
  for (let y = 0; y < info.height; y++) out.set(data.subarray(y * info.width * spp, (y + 1) * info.width * spp), y * tw * spp);
  return out.buffer;
}

class NativeWebpDecoder extends BaseDecoder {
  override decodeBlock(buffer: ArrayBufferLike): Promise<ArrayBuffer> {
    return decodeWebpTile(buffer, (this as unknown as { parameters: BlockParameters }).parameters);
  }
}

/** geotiff.js's WebP parameters: its defaults plus the samples per pixel (the decoder adds or drops alpha to match). */
const webpParameters: NonNullable<Parameters<typeof addDecoder>[2]> = (dir) => blockParametersOf(dir, 4);

addDecoder(50001, async () => NativeWebpDecoder as unknown as typeof BaseDecoder, webpParameters, false);
