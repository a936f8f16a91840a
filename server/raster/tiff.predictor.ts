/**
 * TIFF's predictors, applied to a tile before compression: horizontal differencing for integers
 * (Predictor 2) and the floating point predictor (3, byte planes then differencing), as libtiff
 * writes them.
 */

const LITTLE_ENDIAN_HOST = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * TIFF predictor `predictor` (2: horizontal differencing of integers, 3: floating point) on a tile
 * of `ts` x `ts` pixels of `spp` samples of `bytesPerSample` bytes. In place, row by row, exactly as
 * libtiff's encoder does (so any TIFF reader undoes it).
 */
export function applyPredictor(bytes: Uint8Array, predictor: 2 | 3, ts: number, spp: number, bytesPerSample: number): void {
  const rowSamples = ts * spp;
  if (predictor === 2 && bytesPerSample === 1) {
    for (let r = 0; r < ts; r++) {
      const o = r * rowSamples;
      for (let i = rowSamples - 1; i >= spp; i--) bytes[o + i] = (bytes[o + i] - bytes[o + i - spp]) & 0xff;
    }
  } else if (predictor === 2 && bytesPerSample === 2) {
    const v = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
    for (let r = 0; r < ts; r++) {
      const o = r * rowSamples;
      for (let i = rowSamples - 1; i >= spp; i--) v[o + i] = (v[o + i] - v[o + i - spp]) & 0xffff;
    }
  } else if (predictor === 3) {
    // Floating point predictor: each row's bytes regrouped into planes, most significant byte
    // first, then byte-wise differencing with stride = samples per pixel.
    const bps = bytesPerSample;
    const rowBytes = rowSamples * bps;
    const tmp = new Uint8Array(rowBytes);
    // float32 on a little-endian host: split each sample into its four byte planes by shifts
    // (a quarter of the generic loop's work; this predictor is a large share of writing a CHM)
    const words = bps === 4 && LITTLE_ENDIAN_HOST ? new Uint32Array(tmp.buffer) : null;
    // one sample per pixel (a CHM): difference the byte planes four bytes at a time
    const diffWords = spp === 1 && rowBytes % 4 === 0 && bytes.byteOffset % 4 === 0 && LITTLE_ENDIAN_HOST
      ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2) : null;
    // and, when the planes start on word boundaries, split four samples at a time: a 4 x 4 byte
    // transpose into four word stores, not sixteen byte stores
    const splitWords = words && diffWords && rowSamples % 4 === 0 ? diffWords : null;
    for (let r = 0; r < ts; r++) {
      const o = r * rowBytes;
      tmp.set(bytes.subarray(o, o + rowBytes));
      if (splitWords) {
        transposeRow(words!, splitWords, o >> 2, rowSamples >> 2);
      } else if (words) {
        const o1 = o + rowSamples, o2 = o1 + rowSamples, o3 = o2 + rowSamples;
        for (let s = 0; s < rowSamples; s++) {
          const v = words[s];
          bytes[o + s] = v >>> 24;
          bytes[o1 + s] = v >>> 16;
          bytes[o2 + s] = v >>> 8;
          bytes[o3 + s] = v;
        }
      } else {
        for (let s = 0; s < rowSamples; s++) {
          for (let k = 0; k < bps; k++) bytes[o + (bps - k - 1) * rowSamples + s] = tmp[s * bps + k];
        }
      }
      if (diffWords) differenceBytesSwar(diffWords, o >> 2, rowBytes >> 2);
      else for (let i = rowBytes - 1; i >= spp; i--) bytes[o + i] = (bytes[o + i] - bytes[o + i - spp]) & 0xff;
    }
  } else {
    throw new Error(`internal: predictor ${predictor} is not written for ${bytesPerSample}-byte samples`);
  }
}

/**
 * A row of `4 * quads` float32 samples (`src`) into its four byte planes, most significant first,
 * each `quads` words long, from word `at` of `out`: word q of plane k holds byte 3 - k of samples
 * 4q..4q+3 (little-endian: the first sample's in the lowest byte).
 */
function transposeRow(src: Uint32Array, out: Uint32Array, at: number, quads: number): void {
  const p1 = at + quads, p2 = p1 + quads, p3 = p2 + quads;
  for (let q = 0, s = 0; q < quads; q++, s += 4) {
    const a = src[s], b = src[s + 1], c = src[s + 2], d = src[s + 3];
    out[at + q] = (a >>> 24) | ((b >>> 16) & 0xff00) | ((c >>> 8) & 0xff0000) | (d & 0xff000000);
    out[p1 + q] = ((a >>> 16) & 0xff) | ((b >>> 8) & 0xff00) | (c & 0xff0000) | ((d << 8) & 0xff000000);
    out[p2 + q] = ((a >>> 8) & 0xff) | (b & 0xff00) | ((c << 8) & 0xff0000) | ((d << 16) & 0xff000000);
    out[p3 + q] = (a & 0xff) | ((b << 8) & 0xff00) | ((c << 16) & 0xff0000) | (d << 24);
  }
}

const HIGH = 0x80808080 | 0, LOW = 0x7f7f7f7f;

/**
 * Byte-wise differencing (each byte minus the one before it, the first byte kept) of a row of
 * `n` little-endian words, four bytes per step: SWAR subtraction with no borrow between lanes
 * (Hacker's Delight 2-18). Backwards, so each word still sees its neighbour's original top byte.
 */
function differenceBytesSwar(w: Uint32Array, start: number, n: number): void {
  for (let j = start + n - 1; j > start; j--) {
    const a = w[j] | 0, b = (a << 8) | (w[j - 1] >>> 24);
    w[j] = ((a | HIGH) - (b & LOW)) ^ ((a ^ ~b) & HIGH);
  }
  const a = w[start] | 0, b = a << 8;
  w[start] = ((a | HIGH) - (b & LOW)) ^ ((a ^ ~b) & HIGH);
}
