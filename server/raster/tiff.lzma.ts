/**
 * LZMA-compressed TIFF blocks (GDAL's COMPRESS=LZMA: libtiff's codec 34925 writes each block as an
 * xz stream, decoded by xz.ts). geotiff.js has no decoder for them. Registering it is a side
 * effect of importing this module (source.ts does).
 */
import { addDecoder, BaseDecoder } from 'geotiff';
import { decodedBytes, type BlockParameters } from './block.parameters.ts';
import { decodeXz } from './xz.ts';

/** Most bytes one block may decode to when its parameters do not say (a stream's headers claim its size). */
const MAX_BLOCK_BYTES = 1 << 30;

class LzmaDecoder extends BaseDecoder {
  override decodeBlock(buffer: ArrayBufferLike): ArrayBufferLike {
    const expected = decodedBytes((this as unknown as { parameters?: BlockParameters }).parameters);
    const out = decodeXz(new Uint8Array(buffer), Math.min(expected || MAX_BLOCK_BYTES, MAX_BLOCK_BYTES));
    return out.buffer;
  }
}

addDecoder(34925, async () => LzmaDecoder as unknown as typeof BaseDecoder, undefined, false);
