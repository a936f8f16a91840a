/**
 * What geotiff.js hands a block decoder about the block (its default decoder parameters), and the
 * size the block decodes to: the codecs registered here (native.deflate.ts, tiff.lzma.ts) size their
 * output by it.
 */
export interface BlockParameters {
  tileWidth?: number;
  tileHeight?: number;
  planarConfiguration?: number;
  bitsPerSample?: number | ArrayLike<number>;
}

/** A block's decoded size when the parameters tell it (zero when not). */
export function decodedBytes(p: BlockParameters | undefined): number {
  if (!p?.tileWidth || !p.tileHeight || p.bitsPerSample === undefined) return 0;
  const bits = typeof p.bitsPerSample === 'number' ? [p.bitsPerSample] : Array.from(p.bitsPerSample);
  const perPixel = p.planarConfiguration === 2 ? bits[0] : bits.reduce((s, b) => s + b, 0);
  return Math.ceil((p.tileWidth * p.tileHeight * perPixel) / 8);
}
