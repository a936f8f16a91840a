/**
 * Decoding speed of each TIFF compression the reader takes, against GDAL in the same run.
 *
 *   npx tsx bench/decode.ts [--size 4096] [--scene DIR]
 *
 * A generated forest scene's RGB (or --scene DIR's image.tif) is cut to size x size and written by
 * gdal_translate once per compression (tiled 256, as GDAL writes COGs). Each file is then read
 * whole by the reader (`readLevel` on a freshly opened source: every block decoded once, on the
 * thread that feeds the model for most codecs) and by GDAL (`gdal_translate -of ENVI` into the work
 * folder: its process start included, a few tens of ms). Prints seconds, MB/s of decoded RGB and
 * the ratio to GDAL. The files are checked equal to GDAL's pixels elsewhere (server/raster tests);
 * this only times them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateScene } from '../server/scene/generate.ts';
import { openRaster } from '../server/raster/source.ts';

const { values } = parseArgs({ options: { size: { type: 'string', default: '4096' }, scene: { type: 'string' } } });
const size = Number(values.size);
if (!(Number.isInteger(size) && size >= 256 && size <= 8192)) {
  console.error(`bench/decode: --size takes a whole number of pixels in [256, 8192]; not ${values.size}`);
  process.exit(2);
}
if (spawnSync('gdal_translate', ['--version']).status !== 0) {
  console.error('bench/decode: gdal_translate (gdal-bin) is the reference and is not installed');
  process.exit(2);
}

const CODECS: Array<{ name: string; options: string[] }> = [
  { name: 'DEFLATE', options: ['COMPRESS=DEFLATE'] },
  { name: 'LZW', options: ['COMPRESS=LZW'] },
  { name: 'LZW, predictor 2', options: ['COMPRESS=LZW', 'PREDICTOR=2'] },
  { name: 'JPEG (YCbCr)', options: ['COMPRESS=JPEG', 'PHOTOMETRIC=YCBCR'] },
  { name: 'ZSTD', options: ['COMPRESS=ZSTD'] },
  { name: 'LZMA', options: ['COMPRESS=LZMA'] },
  { name: 'WebP (lossless)', options: ['COMPRESS=WEBP', 'WEBP_LOSSLESS=TRUE'] },
];

const work = mkdtempSync(join(tmpdir(), 'fm-bench-decode-'));
try {
  let image = values.scene ? join(values.scene, 'image.tif') : join(work, 'scene', 'image.tif');
  if (!existsSync(image)) {
    if (values.scene) throw new Error(`--scene ${values.scene}: no image.tif there`);
    await generateScene({ out: join(work, 'scene'), width: size, height: size, gsd: 0.5, seed: 7, preset: 'mixed', crowns: false });
    image = join(work, 'scene', 'image.tif');
  }
  const mb = (size * size * 3) / 1e6;
  console.log(`bench/decode: ${size}x${size} RGB (${mb.toFixed(1)} MB decoded), tiles of 256; the reader against GDAL (gdal_translate -of ENVI)`);
  console.log('compression          file MB   reader s   MB/s    GDAL s   reader / GDAL');
  for (const codec of CODECS) {
    const path = join(work, `${codec.name.replace(/\W+/g, '_')}.tif`);
    const made = spawnSync('gdal_translate', ['-q', '-srcwin', '0', '0', String(size), String(size), '-co', 'TILED=YES', ...codec.options.flatMap((o) => ['-co', o]), image, path], { encoding: 'utf8' });
    if (made.status !== 0) {
      console.log(`${codec.name.padEnd(20)} not written by this GDAL: ${made.stderr.trim().split('\n')[0]}`);
      continue;
    }
    const src = await openRaster(path);
    const t0 = performance.now();
    await src.readLevel(0, { x: 0, y: 0, width: size, height: size });
    const ours = (performance.now() - t0) / 1000;
    const g0 = performance.now();
    const ref = spawnSync('gdal_translate', ['-q', '-of', 'ENVI', path, join(work, 'gdal.raw')]);
    const gdal = (performance.now() - g0) / 1000;
    if (ref.status !== 0) throw new Error(`gdal_translate could not read ${codec.name}`);
    rmSync(join(work, 'gdal.raw'), { force: true });
    console.log(`${codec.name.padEnd(20)} ${(statSync(path).size / 1e6).toFixed(1).padStart(7)}   ${ours.toFixed(2).padStart(8)}   ${(mb / ours).toFixed(0).padStart(4)}   ${gdal.toFixed(2).padStart(7)}   ${(ours / gdal).toFixed(1).padStart(6)}x`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
