import { test } from 'node:test';
import assert from 'node:assert/strict';
import { partLabel } from './job.ts';

test('a feature of the region is called by its id, else its name, else its first text or number attribute, else its place', () => {
  assert.equal(partLabel({ feature: 0, id: 'B7', properties: { name: 'north' } }), 'B7');
  assert.equal(partLabel({ feature: 0, id: 12, properties: null }), '12');
  assert.equal(partLabel({ feature: 1, id: null, properties: { area: 3.2, name: 'north' } }), 'north');
  assert.equal(partLabel({ feature: 1, id: null, properties: { geom_ok: true, stand: 'C4', age: 30 } }), 'C4');
  assert.equal(partLabel({ feature: 4, id: null, properties: { note: null } }), 'feature 5');
  assert.equal(partLabel({ feature: 2, id: null, properties: null }), 'feature 3');
});
