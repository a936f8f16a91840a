import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCog } from '../raster/cog.writer.ts';
import { openRaster } from '../raster/source.ts';
import { SCENE_CRS } from '../scene/generate.ts';
import { assertHeightsAboveGround, checkHeightsAboveGround, firstPercentile } from './heights.check.ts';

const grid = { width: 300, height: 200, transform: [560000, 0.5, 0, 4900000, 0, -0.5] as [number, number, number, number, number, number], crs: SCENE_CRS };

async function raster(dir: string, name: string, value: (c: number, r: number) => number): Promise<string> {
  const path = join(dir, name);
  await writeCog(path, { grid, bands: 1, sampleType: 'float32', nodata: -9999, tileSize: 64 }, (w) => [Float32Array.from({ length: w.width * w.height }, (_, i) => value(w.x + (i % w.width), w.y + Math.floor(i / w.width)))]);
  return path;
}

test('a 1st percentile above 100 m is refused as elevations, with how to make a CHM; heights pass', () => {
  assert.throws(() => checkHeightsAboveGround(483.2, 'dsm.tif'), /^InvalidInputError: dsm\.tif: 99% of its values are above 483\.2 m, higher than any canopy stands above the ground: these are elevations \(a DSM or DTM\), not canopy heights\. A CHM is the surface minus the terrain, e\.g\. gdal_calc\.py -A DSM\.tif -B DTM\.tif --calc="A-B" --outfile CHM\.tif$/);
  for (const ok of [0, 35, 99.9, 100, NaN]) assert.doesNotThrow(() => checkHeightsAboveGround(ok, 'chm.tif'), String(ok));
});

test('the 1st percentile of a raster: its valid values only, sampled over the whole of it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fm-heights-'));
  try {
    // terrain at 450-650 m with a nodata corner: the nodata (-9999) must not drag the percentile down
    const dsm = await raster(dir, 'dsm.tif', (c, r) => (c < 30 && r < 30 ? -9999 : 450 + c * 0.5 + r * 0.25));
    const p1 = await firstPercentile(await openRaster(dsm));
    assert.ok(p1 > 450 && p1 < 470, `${p1}`);
    await assert.rejects(assertHeightsAboveGround(await openRaster(dsm), 'dsm.tif', 1), /dsm\.tif: 99% of its values are above 4\d\d(\.\d+)? m/);
    // a forest: a few gaps at 0 m among crowns up to 45 m
    const chm = await raster(dir, 'chm.tif', (c, r) => ((c * 7 + r * 3) % 23 === 0 ? 0 : 20 + 25 * Math.abs(Math.sin(c / 9) * Math.cos(r / 7))));
    await assertHeightsAboveGround(await openRaster(chm), 'chm.tif', 1);
    // heights in a CRS in feet are compared in metres
    const feet = await raster(dir, 'feet.tif', () => 300);
    await assertHeightsAboveGround(await openRaster(feet), 'feet.tif', 0.3048);
    await assert.rejects(assertHeightsAboveGround(await openRaster(feet), 'feet.tif', 1), /above 300 m/);
    // nothing but nodata: nothing to judge
    const empty = await raster(dir, 'empty.tif', () => -9999);
    await assertHeightsAboveGround(await openRaster(empty), 'empty.tif', 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
