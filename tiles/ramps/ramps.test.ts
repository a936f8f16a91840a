import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getRamp, getRampLut, rampNames } from './index.ts';
import { InvalidInputError } from '../../server/errors.ts';

test('the registry holds the TiTiler names, each ramp ascending with a LUT matching its stops', () => {
  for (const name of ['viridis', 'magma', 'greens', 'terrain', 'gray']) assert.ok(rampNames().includes(name), name);
  for (const name of rampNames()) {
    const ramp = getRamp(name);
    const lut = getRampLut(name);
    assert.equal(lut.length, 768);
    for (let i = 1; i < ramp.stops.length; i++) assert.ok(ramp.stops[i][0] > ramp.stops[i - 1][0], `${name} stops ascend`);
    const first = ramp.stops[0], last = ramp.stops[ramp.stops.length - 1];
    assert.deepEqual([...lut.subarray(0, 3)], [first[1], first[2], first[3]], `${name} low end`);
    assert.deepEqual([...lut.subarray(765, 768)], [last[1], last[2], last[3]], `${name} high end`);
  }
  // gray runs black to white
  const gray = getRampLut('gray');
  assert.deepEqual([...gray.subarray(381, 384)], [127, 127, 127]);
});

test('names are case-insensitive; an unknown name is a clear InvalidInputError', () => {
  assert.equal(getRamp('Viridis').name, 'viridis');
  assert.throws(() => getRamp('nope'), (e: unknown) => e instanceof InvalidInputError && /viridis/.test((e as Error).message));
});
