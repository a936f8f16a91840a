import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import * as turf from '@turf/turf';
import { treesToGeoJSON } from './geojson.ts';
import { detectTrees } from '../trees/detect.ts';
import { syntheticForest } from '../trees/synthetic.ts';

async function collect(fn: (out: PassThrough) => Promise<unknown>): Promise<{ text: string; chunks: number; largest: number }> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (c: Buffer) => parts.push(c));
  await fn(out);
  out.end();
  return { text: Buffer.concat(parts).toString('utf8'), chunks: parts.length, largest: Math.max(...parts.map((p) => p.length)) };
}

test('trees stream out as RFC 7946 GeoJSON: WGS84, 7 decimals, CCW exteriors, one write per feature', async () => {
  const f = syntheticForest({ width: 300, height: 200, seed: 4 });
  const r = detectTrees(f.image, { algorithm: 'silva' });
  const { text: crownsText, chunks, largest } = await collect((out) => treesToGeoJSON(out, r.trees, { crs: f.image.grid.crs, geometry: 'crown', crowns: r.crowns }));
  assert.ok(chunks >= Math.floor(crownsText.length / 70000), `streamed in chunks (${chunks} for ${crownsText.length} chars), not as one string`);
  assert.ok(largest < 64 * 1024 + 20000, `chunks stay small (${largest})`);
  const fc = JSON.parse(crownsText);
  assert.equal(fc.type, 'FeatureCollection');
  assert.equal(fc.features.length, r.crowns.filter(Boolean).length);
  for (const feat of fc.features) {
    assert.equal(feat.geometry.type, 'Polygon');
    assert.ok(turf.booleanValid(feat), `crown ${feat.id} valid`);
    const ring = feat.geometry.coordinates[0];
    // UTM 17N near x=400000: longitudes around -82°
    assert.ok(ring.every(([lon, lat]: number[]) => lon > -83 && lon < -81 && lat > 29 && lat < 30));
    assert.ok(ring.every(([lon, lat]: number[]) => Math.abs(lon * 1e7 - Math.round(lon * 1e7)) < 1e-6 && Math.abs(lat * 1e7 - Math.round(lat * 1e7)) < 1e-6));
    assert.ok(turf.booleanClockwise(ring) === false, 'exterior counter-clockwise');
    for (const hole of feat.geometry.coordinates.slice(1)) assert.ok(turf.booleanClockwise(hole), 'holes clockwise');
    assert.deepEqual(Object.keys(feat.properties).sort(), ['crown_area_m2', 'crown_diameter_m', 'height_m', 'id']);
  }
  const { text } = await collect((out) => treesToGeoJSON(out, r.trees, { crs: f.image.grid.crs }));
  const points = JSON.parse(text);
  assert.equal(points.features.length, r.trees.length);
  assert.equal(points.features[0].geometry.type, 'Point');
  assert.equal(points.features[0].properties.id, r.trees[0].id);
  const empty = JSON.parse((await collect((out) => treesToGeoJSON(out, [], { crs: f.image.grid.crs }))).text);
  assert.deepEqual(empty, { type: 'FeatureCollection', features: [] });
});
