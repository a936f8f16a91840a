import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import * as turf from '@turf/turf';
import { TreeFeatures, treesToGeoJSON } from './geojson.ts';
import { projector, WGS84 } from '../../tiles/projection.ts';
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

test('feature bytes are JSON.stringify of the feature objects, which equal rounding proj4 vertex by vertex', async () => {
  const f = syntheticForest({ width: 300, height: 200, seed: 9 });
  const r = detectTrees(f.image, { algorithm: 'dalponte' });
  const crs = f.image.grid.crs;
  const [x0, y0] = r.crowns.find(Boolean)![0][0];
  const square = (x: number, y: number, s: number, cw: boolean): Array<[number, number]> => {
    const ring: Array<[number, number]> = [[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]];
    return cw ? ring.reverse() : ring;
  };
  // extra crowns: a hole, a hole under 1 cm (dropped), wrongly wound rings, an exterior under 1 cm (no feature)
  const extra = [
    { tree: { ...r.trees[0], id: 90001 }, crown: [square(x0, y0, 10, true), square(x0 + 2, y0 + 2, 3, true), square(x0 + 6, y0 + 6, 0.004, false)] },
    { tree: { ...r.trees[0], id: 90002, height: -0.004, crownArea: 1e-9 }, crown: [square(x0, y0, 0.003, false)] },
  ];
  const trees = [...r.trees, ...extra.map((e) => e.tree)], crowns = [...r.crowns, ...extra.map((e) => e.crown)];
  const { text } = await collect((out) => treesToGeoJSON(out, trees, { crs, geometry: 'crown', crowns }));
  const features = new TreeFeatures(crs);
  const objects = trees.map((t, k) => features.crown(t, crowns[k])).filter(Boolean);
  assert.equal(text, `{"type":"FeatureCollection","features":[\n${objects.map((o) => JSON.stringify(o)).join(',\n')}\n]}\n`);
  assert.ok(objects.some((o) => o!.id === 90001) && !objects.some((o) => o!.id === 90002));
  const withHole = objects.find((o) => o!.id === 90001)!.geometry.coordinates as number[][][];
  assert.equal(withHole.length, 2, 'the sub-centimetre hole is dropped');

  // the reference: every vertex through proj4, rounded, repeats dropped, rings closed and wound
  const exact = projector(crs, WGS84);
  const round7 = (v: number) => Math.round(v * 1e7) / 1e7;
  const area = (ring: number[][]) => ring.reduce((s, p, i) => (i ? s + ring[i - 1][0] * p[1] - p[0] * ring[i - 1][1] : 0), 0);
  for (const o of objects) {
    const k = trees.findIndex((t) => t.id === o!.id);
    const rings = crowns[k]!.map((ring) => {
      const out: number[][] = [];
      for (const [x, y] of ring) {
        const p = exact(x, y).map(round7);
        if (!out.length || out.at(-1)![0] !== p[0] || out.at(-1)![1] !== p[1]) out.push(p);
      }
      if (out[0][0] !== out.at(-1)![0] || out[0][1] !== out.at(-1)![1]) out.push([...out[0]]);
      return out;
    }).filter((ring) => ring.length >= 4).map((ring, i) => ((i === 0) !== (area(ring) > 0) ? ring.reverse() : ring));
    assert.deepEqual(o!.geometry.coordinates, rings, `tree ${o!.id}`);
  }
  const { text: points } = await collect((out) => treesToGeoJSON(out, trees, { crs }));
  assert.equal(points, `{"type":"FeatureCollection","features":[\n${trees.map((t) => JSON.stringify(features.point(t))).join(',\n')}\n]}\n`);
  assert.deepEqual(JSON.parse(points).features.at(-1).properties, { id: 90002, height_m: 0, crown_area_m2: 0, crown_diameter_m: Math.round(extra[1].tree.crownDiameter * 100) / 100 });
});
