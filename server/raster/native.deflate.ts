/**
 * geotiff.js decodes DEFLATE with pako (JavaScript); Node's zlib does the same several times
 * faster. Registering it is a side effect of importing this module (source.ts does). SYNC_FLUSH
 * keeps pako's leniency towards blocks with a missing or damaged stream end.
 */
import { inflateSync, constants } from 'node:zlib';
import { addDecoder, BaseDecoder } from 'geotiff';

class NativeDeflateDecoder extends BaseDecoder {
  override decodeBlock(buffer: ArrayBufferLike): ArrayBufferLike {
    const out = inflateSync(new Uint8Array(buffer), { finishFlush: constants.Z_SYNC_FLUSH });
    return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
  }
}

// 8: Adobe deflate, 32946: old-style deflate
addDecoder([8, 32946], async () => NativeDeflateDecoder as unknown as typeof BaseDecoder, undefined, false);
