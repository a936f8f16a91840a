import type { addDecoder } from 'geotiff';

/**
 * What geotiff.js hands a block decoder about the block (its default decoder parameters, plus the
 * samples per pixel where a codec asks for them), and the size the block decodes to: the codecs
 * registered here (native.deflate.ts, tiff.lzw.ts, tiff.lzma.ts) size their output by it.
 */
export interface BlockParameters {
  tileWidth?: number;
  tileHeight?: number;
  planarConfiguration?: number;
  bitsPerSample?: number | ArrayLike<number>;
  predictor?: number;
  samplesPerPixel?: number;
}

type DecoderParameterFn = NonNullable<Parameters<typeof addDecoder>[2]>;
type FileDirectory = Parameters<DecoderParameterFn>[0];

/**
 * geotiff.js's default decoder parameters read from a file directory, with the samples per pixel
 * (`samplesIfMissing` when the tag is absent): what the sharp codecs (native.webp.ts,
 * native.jpeg.ts) need to check a decoded block's channels.
 */
export async function blockParametersOf(dir: FileDirectory, samplesIfMissing: number): Promise<Awaited<ReturnType<DecoderParameterFn>> & { samplesPerPixel: number }> {
  const tiled = !dir.hasTag('StripOffsets');
  return {
    tileWidth: Number(await dir.loadValue(tiled ? 'TileWidth' : 'ImageWidth')),
    tileHeight: Number(tiled ? await dir.loadValue('TileLength') : (await dir.loadValue('RowsPerStrip')) || (await dir.loadValue('ImageLength'))),
    planarConfiguration: Number(await dir.loadValue('PlanarConfiguration') ?? 1),
    bitsPerSample: (await dir.loadValue('BitsPerSample')) ?? 8,
    predictor: Number(await dir.loadValue('Predictor') ?? 1),
    samplesPerPixel: Number(await dir.loadValue('SamplesPerPixel')) || samplesIfMissing,
  };
}

/** A block's decoded size when the parameters tell it (zero when not). */
export function decodedBytes(p: BlockParameters | undefined): number {
  if (!p?.tileWidth || !p.tileHeight || p.bitsPerSample === undefined) return 0;
  const bits = typeof p.bitsPerSample === 'number' ? [p.bitsPerSample] : Array.from(p.bitsPerSample);
  const perPixel = p.planarConfiguration === 2 ? bits[0] : bits.reduce((s, b) => s + b, 0);
  return Math.ceil((p.tileWidth * p.tileHeight * perPixel) / 8);
}
