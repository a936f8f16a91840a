/**
 * Decoded TIFF blocks, shared by every open raster, bounded in bytes (LRU). Neighbouring map
 * tiles read overlapping windows of the same internal tiles; decoding each block once instead of
 * once per map tile removes most of the decompression work from a tile pyramid.
 */
import { getDecoder, type GeoTIFFImage } from 'geotiff';

type Samples = ArrayLike<number> & { length: number; BYTES_PER_ELEMENT?: number };
type TypedCtor = new (n: number) => Samples & { set(a: ArrayLike<number>, offset?: number): void };

const MAX_BYTES = 96 * 1024 * 1024;
const blocks = new Map<string, Promise<Samples[]>>();
const sizes = new Map<string, number>();
let bytes = 0;

function remember(key: string, size: number): void {
  sizes.set(key, size);
  bytes += size;
  while (bytes > MAX_BYTES && blocks.size > 1) {
    const oldest = blocks.keys().next().value!;
    blocks.delete(oldest);
    bytes -= sizes.get(oldest) ?? 0;
    sizes.delete(oldest);
  }
}

function block(image: GeoTIFFImage, owner: string, bx: number, by: number, bw: number, bh: number, samples: number[]): Promise<Samples[]> {
  const key = `${owner}|${bx},${by}|${samples.join(',')}`;
  const hit = blocks.get(key);
  if (hit) {
    blocks.delete(key);
    blocks.set(key, hit);
    return hit;
  }
  const x0 = bx * bw, y0 = by * bh;
  const x1 = Math.min(image.getWidth(), x0 + bw), y1 = Math.min(image.getHeight(), y0 + bh);
  const p = fastLayout(image)
    ? decodeBlock(image, bx, by, x1 - x0, y1 - y0, samples)
    : (image.readRasters({ window: [x0, y0, x1, y1], samples, interleave: false } as any) as unknown as Promise<Samples[]>);
  blocks.set(key, p);
  p.then(
    (arrays) => remember(key, arrays.reduce((s, a) => s + a.length * (a.BYTES_PER_ELEMENT ?? 8), 0)),
    () => blocks.delete(key),
  );
  return p;
}

/** Compressions whose decoders take geotiff.js's default parameters (the five tags below). */
const PLAIN_DECODERS = new Set([1, 5, 8, 32946]);
type TypedView = Samples & { subarray(a: number, b: number): Samples };
type ViewCtor = new (buffer: ArrayBufferLike, offset?: number, length?: number) => TypedView;
const decoders = new WeakMap<GeoTIFFImage, Promise<BlockDecoder>>();
/** geotiff.js's decoders: decode applies the predictor, decodeBlock only decompresses. */
interface BlockDecoder {
  decode(b: ArrayBufferLike): Promise<ArrayBufferLike>;
  decodeBlock(b: ArrayBufferLike): ArrayBufferLike | Promise<ArrayBufferLike>;
}

/**
 * Whether a block can be split into sample planes with typed-array views: little-endian, whole
 * bytes (8/16/32/64 bits), one sample format, a plainly-parameterised decoder. geotiff.js's
 * readRasters copies every sample through a DataView getter, which made it the largest cost of
 * reading imagery for the model.
 */
function fastLayout(image: GeoTIFFImage): boolean {
  const img = image as unknown as { littleEndian: boolean; fileDirectory: { getValue(tag: string): unknown } };
  if (!img.littleEndian) return false;
  const compression = Number(img.fileDirectory.getValue('Compression') ?? 1);
  if (!PLAIN_DECODERS.has(compression)) return false;
  const spp = image.getSamplesPerPixel();
  const bits = image.getBitsPerSample(0), format = image.getSampleFormat(0);
  if (![8, 16, 32, 64].includes(bits) || (bits < 32 && format === 3) || (bits === 64 && format !== 3)) return false;
  for (let s = 1; s < spp; s++) if (image.getBitsPerSample(s) !== bits || image.getSampleFormat(s) !== format) return false;
  return true;
}

/** Pixel-interleaved unsigned bytes with horizontal differencing (TIFF predictor 2): the imagery path's usual layout. */
function bytesDifferenced(image: GeoTIFFImage): boolean {
  const dir = (image as unknown as { fileDirectory: { getValue(tag: string): unknown } }).fileDirectory;
  return (image as unknown as { planarConfiguration: number }).planarConfiguration !== 2 && image.getBitsPerSample(0) === 8
    && image.getSampleFormat(0) === 1 && Number(dir.getValue('Predictor') ?? 1) === 2;
}

/**
 * Sample planes (cw x ch) of one pixel-interleaved byte block (tw pixels a row, spp samples a
 * pixel); `differenced`: the bytes are TIFF predictor 2 differences, summed back (mod 256) here.
 * One monomorphic pass per sample: the generic split below was the largest cost of decoding imagery.
 * The first three samples of RGB(A) imagery come out of one pass over the block (splitThree).
 */
export function splitBytePlanes(src: Uint8Array, tw: number, spp: number, cw: number, ch: number, samples: number[], differenced: boolean): Uint8Array[] {
  if (spp >= 3 && samples.length === 3 && samples[0] === 0 && samples[1] === 1 && samples[2] === 2) return splitThree(src, tw, spp, cw, ch, differenced);
  return samples.map((s) => {
    const out = new Uint8Array(cw * ch);
    for (let y = 0; y < ch; y++) {
      let i = y * tw * spp + s;
      let j = y * cw;
      const end = j + cw;
      if (differenced) {
        let acc = 0;
        for (; j < end; j++, i += spp) out[j] = acc = (acc + src[i]) & 255;
      } else {
        for (; j < end; j++, i += spp) out[j] = src[i];
      }
    }
    return out;
  });
}

/**
 * Samples 0, 1 and 2 of a block in one pass: each pixel's bytes are read once, where three passes
 * read the whole block three times (in a 1 km² job a third less of the main thread's decoding).
 */
function splitThree(src: Uint8Array, tw: number, spp: number, cw: number, ch: number, differenced: boolean): Uint8Array[] {
  const r = new Uint8Array(cw * ch), g = new Uint8Array(cw * ch), b = new Uint8Array(cw * ch);
  for (let y = 0; y < ch; y++) {
    let i = y * tw * spp, j = y * cw;
    const end = j + cw;
    if (differenced) {
      let ar = 0, ag = 0, ab = 0;
      for (; j < end; j++, i += spp) {
        r[j] = ar = (ar + src[i]) & 255;
        g[j] = ag = (ag + src[i + 1]) & 255;
        b[j] = ab = (ab + src[i + 2]) & 255;
      }
    } else {
      for (; j < end; j++, i += spp) {
        r[j] = src[i];
        g[j] = src[i + 1];
        b[j] = src[i + 2];
      }
    }
  }
  return [r, g, b];
}

function decoderFor(image: GeoTIFFImage) {
  let d = decoders.get(image);
  if (!d) {
    const dir = (image as unknown as { fileDirectory: { getValue(tag: string): any } }).fileDirectory;
    const compression = Number(dir.getValue('Compression') ?? 1);
    // the parameters geotiff.js's parameter functions read (samples per pixel: the WebP decoder's)
    d = getDecoder(compression, {
      tileWidth: image.getTileWidth(), tileHeight: image.getTileHeight(),
      planarConfiguration: Number(dir.getValue('PlanarConfiguration') ?? 1),
      bitsPerSample: dir.getValue('BitsPerSample'), predictor: Number(dir.getValue('Predictor') ?? 1),
      samplesPerPixel: image.getSamplesPerPixel(),
    } as any) as unknown as Promise<BlockDecoder>;
    decoders.set(image, d);
  }
  return d;
}

/** One internal tile as sample planes (cw x ch, clipped to the image), from typed-array views. */
async function decodeBlock(image: GeoTIFFImage, bx: number, by: number, cw: number, ch: number, samples: number[]): Promise<Samples[]> {
  const decoder = await decoderFor(image);
  const tw = image.getTileWidth();
  const spp = image.getSamplesPerPixel();
  const planar = (image as unknown as { planarConfiguration: number }).planarConfiguration === 2;
  const tile = (s: number) => (image as any).getTileOrStrip(bx, by, s, decoder) as Promise<{ data: ArrayBufferLike }>;
  const make = (s: number) => image.getArrayForSample(s, cw * ch) as unknown as TypedView & { set(a: ArrayLike<number>, o?: number): void };
  const Ctor = make(0).constructor as unknown as ViewCtor;
  if (planar) {
    return Promise.all(samples.map(async (s) => {
      const src = new Ctor((await tile(s)).data);
      const out = make(s);
      for (let y = 0; y < ch; y++) out.set(src.subarray(y * tw, y * tw + cw), y * cw);
      return out;
    }));
  }
  if (bytesDifferenced(image)) {
    // the decoder's own predictor pass is skipped: undone while the samples are split out
    const raw = await (image as any).getTileOrStrip(bx, by, 0, { decode: async (b: ArrayBufferLike) => (await decoder.decodeBlock(b)) }) as { data: ArrayBufferLike };
    return splitBytePlanes(new Uint8Array(raw.data), tw, spp, cw, ch, samples, true);
  }
  const src = new Ctor((await tile(0)).data);
  if (src instanceof Uint8Array) return splitBytePlanes(src, tw, spp, cw, ch, samples, false);
  return samples.map((s) => {
    const out = make(s);
    if (spp === 1) {
      for (let y = 0; y < ch; y++) out.set(src.subarray(y * tw, y * tw + cw), y * cw);
      return out;
    }
    const o = out as unknown as { [i: number]: number };
    const v = src as unknown as { [i: number]: number };
    for (let y = 0; y < ch; y++) {
      let i = y * tw * spp + s;
      let j = y * cw;
      const end = j + cw;
      for (; j < end; j++, i += spp) o[j] = v[i];
    }
    return out;
  });
}

/**
 * The samples of a window of a tiled image, assembled from cached decoded blocks. `owner` names
 * the file version and level (so a replaced file never reads stale blocks).
 */
export async function readTiledWindow(image: GeoTIFFImage, owner: string, x0: number, y0: number, x1: number, y1: number, samples: number[]): Promise<Samples[]> {
  const bw = image.getTileWidth(), bh = image.getTileHeight();
  const w = x1 - x0, h = y1 - y0;
  const bx0 = Math.floor(x0 / bw), bx1 = Math.floor((x1 - 1) / bw);
  const by0 = Math.floor(y0 / bh), by1 = Math.floor((y1 - 1) / bh);
  const jobs: Array<Promise<{ bx: number; by: number; arrays: Samples[] }>> = [];
  for (let by = by0; by <= by1; by++) {
    for (let bx = bx0; bx <= bx1; bx++) jobs.push(block(image, owner, bx, by, bw, bh, samples).then((arrays) => ({ bx, by, arrays })));
  }
  const parts = await Promise.all(jobs);
  const Ctor = parts[0].arrays[0].constructor as TypedCtor;
  const out = samples.map(() => new Ctor(w * h));
  for (const { bx, by, arrays } of parts) {
    const bxStart = bx * bw, byStart = by * bh;
    const blockWidth = Math.min(image.getWidth(), bxStart + bw) - bxStart;
    const cx0 = Math.max(x0, bxStart), cx1 = Math.min(x1, bxStart + blockWidth);
    const cy0 = Math.max(y0, byStart), cy1 = Math.min(y1, byStart + bh, image.getHeight());
    if (cx1 <= cx0 || cy1 <= cy0) continue;
    for (let s = 0; s < samples.length; s++) {
      const src = arrays[s] as unknown as { subarray(a: number, b: number): ArrayLike<number> };
      const dst = out[s];
      for (let y = cy0; y < cy1; y++) {
        const from = (y - byStart) * blockWidth + (cx0 - bxStart);
        dst.set(src.subarray(from, from + (cx1 - cx0)), (y - y0) * w + (cx0 - x0));
      }
    }
  }
  return out;
}

/** Forget every block of an owner prefix (a closed or replaced file). */
export function dropBlocks(ownerPrefix: string): void {
  for (const key of [...blocks.keys()]) {
    if (!key.startsWith(ownerPrefix)) continue;
    blocks.delete(key);
    bytes -= sizes.get(key) ?? 0;
    sizes.delete(key);
  }
}
