/**
 * LZW-compressed TIFF blocks (compression 5: most NEON and many agency orthophotos), decoded as
 * libtiff decodes them. geotiff.js's decoder builds every string as a JavaScript array and read a
 * 4096² RGB image 16 times slower than GDAL; this one keeps the code table in typed arrays and
 * writes each string straight into the output. Registering it is a side effect of importing this
 * module (source.ts does).
 */
import { addDecoder, BaseDecoder } from 'geotiff';
import { decodedBytes, type BlockParameters } from './block.parameters.ts';

export class LzwError extends Error {}

const CLEAR = 256, EOI = 257, FIRST = 258;
const MAX_BITS = 12, TABLE = 1 << MAX_BITS;

/**
 * The bytes of one TIFF LZW stream (MSB-first codes of 9 to 12 bits, widened one code early as
 * libtiff writes them). With `expected` > 0 (the block's size) decoding stops once that many bytes
 * are out, as libtiff does; a stream ending sooner (the last strip of an image) gives what it holds.
 */
export function decodeTiffLzw(input: Uint8Array, expected: number): Uint8Array {
  // libtiff's test for the LSB-first codes of its pre-5.0 "old-style" LZW
  if (input.length >= 2 && input[0] === 0 && (input[1] & 1)) {
    throw new LzwError('old-style LZW (LSB-first codes, written by libtiff before 5.0) is not read: convert it with gdal_translate -co COMPRESS=DEFLATE');
  }
  let out = new Uint8Array(expected > 0 ? expected : Math.max(1024, input.length * 4));
  const limit = expected > 0 ? expected : Infinity;
  const prefix = new Uint16Array(TABLE), suffix = new Uint8Array(TABLE), length = new Uint16Array(TABLE), firstOf = new Uint8Array(TABLE);
  for (let i = 0; i < 256; i++) { suffix[i] = i; firstOf[i] = i; length[i] = 1; }
  let next = FIRST, bits = 9, old = -1, pos = 0;
  let acc = 0, held = 0, ip = 0;
  const n = input.length;
  decode: for (;;) {
    while (held < bits) {
      // a stream without its EOI code ends where its bytes do (libtiff warns and keeps the data)
      if (ip >= n) break decode;
      acc = (acc << 8) | input[ip++];
      held += 8;
    }
    held -= bits;
    const code = (acc >>> held) & ((1 << bits) - 1);
    if (code === EOI) break;
    if (code === CLEAR) {
      next = FIRST;
      bits = 9;
      old = -1;
      continue;
    }
    let len: number, head: number;
    if (old < 0) {
      if (code > 255) throw new LzwError(`LZW code ${code} follows a clear code (a single byte must)`);
      len = 1;
      head = code;
    } else if (code < next) {
      len = length[code];
      head = firstOf[code];
    } else if (code === next) {
      // the string being defined: the previous one and its own first byte
      len = length[old] + 1;
      head = firstOf[old];
    } else {
      throw new LzwError(`LZW code ${code} is not in the table yet (${next} entries)`);
    }
    if (pos + len > out.length) {
      if (pos + len > limit) {
        // the block is full: what fits of this string ends it, the rest of the stream is not part of it
        const whole = new Uint8Array(len);
        writeCode(whole, 0, code, len, code === next, old, head, prefix, suffix);
        out.set(whole.subarray(0, limit - pos), pos);
        pos = limit;
        break;
      }
      const grown = new Uint8Array(Math.max(out.length * 2, pos + len));
      grown.set(out.subarray(0, pos));
      out = grown;
    }
    writeCode(out, pos, code, len, code === next, old, head, prefix, suffix);
    pos += len;
    if (old >= 0 && next < TABLE) {
      prefix[next] = old;
      suffix[next] = head;
      length[next] = length[old] + 1;
      firstOf[next] = firstOf[old];
      next++;
      if (next === (1 << bits) - 1 && bits < MAX_BITS) bits++;
    }
    old = code;
    if (pos >= limit) break;
  }
  return pos === out.length ? out : out.slice(0, pos);
}

/**
 * Writes the string of `code` (`len` bytes) at out[at], last byte first, along its prefixes. A code
 * not yet in the table (`pending`: the entry being defined) is the previous string, `old`, and that
 * string's first byte, `head`.
 */
function writeCode(out: Uint8Array, at: number, code: number, len: number, pending: boolean, old: number, head: number, prefix: Uint16Array, suffix: Uint8Array): void {
  let c = code, end = at + len - 1;
  if (pending) {
    out[end--] = head;
    c = old;
  }
  for (let p = end; p > at; p--) {
    out[p] = suffix[c];
    c = prefix[c];
  }
  out[at] = suffix[c];
}

class LzwDecoder extends BaseDecoder {
  override decodeBlock(buffer: ArrayBufferLike): ArrayBufferLike {
    const expected = decodedBytes((this as unknown as { parameters?: BlockParameters }).parameters);
    return decodeTiffLzw(new Uint8Array(buffer), expected).buffer;
  }
}

addDecoder(5, async () => LzwDecoder as unknown as typeof BaseDecoder, undefined, false);
