import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planTileRead, type RasterLayout } from './read.plan.ts';
import { crsFromEpsg, projector, WGS84 } from './projection.ts';
import { lonLatToMercator, tileAt } from './tile.matrix.set.ts';
import type { Affine } from '../server/raster/types.ts';

/** A 40000 x 40000 UTM raster at 0.1 m with overviews down to 312 px, centred on (lon, lat). */
function bigLayout(lon = -119.72, lat = 37.1): RasterLayout {
  const crs = crsFromEpsg(32611);
  const [x, y] = projector(WGS84, crs)(lon, lat);
  const W = 40000;
  const t: Affine = [x - W * 0.05, 0.1, 0, y + W * 0.05, 0, -0.1];
  const levels = [];
  for (let f = 1; W / f >= 300; f *= 2) levels.push({ width: Math.ceil(W / f), height: Math.ceil(W / f), transform: [t[0], 0.1 * f, 0, t[3], 0, -0.1 * f] as Affine });
  const [x0, y0] = projector(crs, WGS84)(t[0], t[3] - W * 0.1), [x1, y1] = projector(crs, WGS84)(t[0] + W * 0.1, t[3]);
  return { crs, levels, wgs84Bounds: [x0, y0, x1, y1] };
}

test('a tile that misses the raster plans nothing (204), even far outside the UTM zone', () => {
  const layout = bigLayout();
  for (const [lon, lat, z] of [[10, 50, 14], [100, 60, 10], [60.28, 37.1, 12], [-119.72, -37.1, 9], [-119.9, 37.1, 16]]) {
    const [mx, my] = lonLatToMercator(lon, lat);
    assert.equal(planTileRead(layout, tileAt(mx, my, z)), null, `${lon},${lat} z${z}`);
  }
});

test('low zooms read a coarse overview, and every plan reads a bounded window', () => {
  const layout = bigLayout();
  const [mx, my] = lonLatToMercator(-119.72, 37.1);
  let previousLevel = Infinity;
  // from z13 the raster spans more than its coarsest overview's pixels per tile pixel
  for (let z = 13; z <= 21; z++) {
    const plan = planTileRead(layout, tileAt(mx, my, z))!;
    assert.ok(plan, `z${z} plans a read`);
    assert.ok(plan.level <= previousLevel, 'levels get finer as zoom grows');
    previousLevel = plan.level;
    // the window is about one tile's worth of pixels at the chosen level: never the whole raster
    assert.ok(plan.window.width <= 2 * 256 + 16 && plan.window.height <= 2 * 256 + 16, `z${z} window ${plan.window.width}x${plan.window.height} at level ${plan.level}`);
    for (const r of plan.regions) assert.ok(r.scale[0] < 2.2 && r.scale[1] < 2.2, `z${z} kernel stretch ${r.scale}`);
  }
  assert.equal(planTileRead(layout, tileAt(mx, my, 21))!.level, 0);
  assert.ok(planTileRead(layout, tileAt(mx, my, 13))!.level >= 5);
  assert.equal(planTileRead(layout, tileAt(mx, my, 8))!.level, layout.levels.length - 1);
});

test('@2x tiles plan 512 px at the same footprint with a finer level', () => {
  const layout = bigLayout();
  const [mx, my] = lonLatToMercator(-119.72, 37.1);
  const tile = tileAt(mx, my, 15);
  const p1 = planTileRead(layout, tile, 256)!;
  const p2 = planTileRead(layout, tile, 512)!;
  assert.equal(p2.size, 512);
  assert.equal(p2.level, p1.level - 1);
});
