import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasTiffHeader, notTiffAdvice } from './file.kind.ts';
import { openRaster } from './source.ts';
import { UnreadableRasterError } from '../errors.ts';

const bytes = (...parts: Array<number[] | string>) => Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));

test('files that are not TIFFs are named, with the command that makes a GeoTIFF of them', () => {
  const cases: Array<[Uint8Array, RegExp]> = [
    [bytes([0, 0, 0, 0x0c], 'jP  ', [0x0d, 0x0a, 0x87, 0x0a]), /^it is a JPEG 2000 image: convert it to a GeoTIFF with gdal_translate -of COG ortho\.jp2 ortho\.tif$/],
    [bytes([0xff, 0x4f, 0xff, 0x51, 0, 0x2f]), /JPEG 2000/],
    [bytes([0xff, 0xd8, 0xff, 0xe0], 'JFIF'), /^it is a JPEG image: .*gdal_translate -of COG ortho\.jp2 ortho\.tif \(GDAL takes its georeferencing from a world file and \.prj beside it\)$/],
    [bytes([0x89], 'PNG', [0x0d, 0x0a, 0x1a, 0x0a]), /PNG image/],
    [bytes('LASF', [0, 0, 0, 0]), /^it is a LAS\/LAZ point cloud: make a canopy height model from it with forestmap chm --points ortho\.jp2 --out ortho_chm\.tif$/],
    [bytes('  <VRTDataset rasterXSize="10">'), /GDAL virtual raster \(VRT\)/],
    [bytes('ncols 100\nnrows 100\n'), /ASCII grid/],
    [bytes('{"type": "FeatureCollection"}'), /JSON, not a raster/],
    [bytes('EHFA_HEADER_TAG'), /ERDAS Imagine/],
    [bytes('PK', [3, 4]), /ZIP archive: unzip it/],
    [bytes('just some text'), /does not start with a TIFF header/],
    [new Uint8Array(0), /^the file is empty$/],
  ];
  for (const [head, expected] of cases) assert.match(notTiffAdvice(head, 'ortho.jp2'), expected);
  // a JPEG named .tif is not told to convert onto itself
  assert.match(notTiffAdvice(bytes([0xff, 0xd8, 0xff, 0xe0]), 'plot.TIF'), /gdal_translate -of COG plot\.TIF plot-cog\.tif /);
});

test('TIFF and BigTIFF headers in both byte orders are recognised as TIFFs', () => {
  for (const head of [bytes('II', [42, 0]), bytes('MM', [0, 42]), bytes('II', [43, 0]), bytes('MM', [0, 43])]) assert.ok(hasTiffHeader(head));
  for (const head of [bytes('II', [0, 42]), bytes('MM'), bytes([0xff, 0xd8, 0xff])]) assert.ok(!hasTiffHeader(head));
});

test('openRaster refuses a JPEG 2000 file with what it is and how to convert it; a broken TIFF keeps the decoder\'s reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fm-kind-'));
  try {
    const jp2 = join(dir, 'tile.jp2');
    writeFileSync(jp2, bytes([0, 0, 0, 0x0c], 'jP  ', [0x0d, 0x0a, 0x87, 0x0a], new Array(100).fill(7)));
    await assert.rejects(openRaster(jp2), (e: unknown) => e instanceof UnreadableRasterError
      && e.message === 'tile.jp2: not a TIFF file: it is a JPEG 2000 image: convert it to a GeoTIFF with gdal_translate -of COG tile.jp2 tile.tif'
      && (e.details as { reason: string }).reason === 'not a TIFF file');
    const broken = join(dir, 'broken.tif');
    writeFileSync(broken, bytes('II', [42, 0, 0xff, 0xff, 0xff, 0x7f]));
    await assert.rejects(openRaster(broken), (e: unknown) => e instanceof UnreadableRasterError && !/does not start with a TIFF header/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
