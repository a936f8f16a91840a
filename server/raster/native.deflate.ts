/**
 * geotiff.js decodes DEFLATE with pako (JavaScript); Node's zlib does the same several times
 * faster. Registering it is a side effect of importing this module (source.ts does). SYNC_FLUSH
 * keeps pako's leniency towards blocks with a missing or damaged stream end.
 */
import { inflateSync, constants } from 'node:zlib';
import { addDecoder, BaseDecoder } from 'geotiff';
import { decodedBytes, type BlockParameters } from './block.parameters.ts';

class NativeDeflateDecoder extends BaseDecoder {
  override decodeBlock(buffer: ArrayBufferLike): ArrayBufferLike {
    // a hint only: a larger block still decodes, in more chunks
    const hint = decodedBytes((this as unknown as { parameters?: BlockParameters }).parameters);
    const out = inflateSync(new Uint8Array(buffer), { finishFlush: constants.Z_SYNC_FLUSH, chunkSize: Math.max(16384, Math.min(hint, 1 << 26)) });
    // zlib hands back a Buffer over its own ArrayBuffer when it fills one chunk: no copy needed
    if (out.byteOffset === 0 && out.byteLength === out.buffer.byteLength) return out.buffer;
    return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
  }
}

// 8: Adobe deflate, 32946: old-style deflate
addDecoder([8, 32946], async () => NativeDeflateDecoder as unknown as typeof BaseDecoder, undefined, false);
