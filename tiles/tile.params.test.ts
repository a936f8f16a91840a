import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTilePath, parseTileStyle, styleKey } from './tile.params.ts';
import { InvalidInputError } from '../server/errors.ts';

test('tile paths: 256 and @2x, png and webp; bad paths are InvalidInputError', () => {
  assert.deepEqual(parseTilePath('18', '44930', '101880.png'), { tile: { z: 18, x: 44930, y: 101880 }, size: 256, format: 'png' });
  assert.deepEqual(parseTilePath('3', '2', '5@2x.webp'), { tile: { z: 3, x: 2, y: 5 }, size: 512, format: 'webp' });
  for (const [z, x, f] of [['3', '9', '1.png'], ['x', '1', '1.png'], ['3', '1', '1.jpg'], ['31', '0', '0.png'], ['3', '1', '../1.png']]) {
    assert.throws(() => parseTilePath(z, x, f), InvalidInputError, `${z}/${x}/${f}`);
  }
});

test('style: rescale per band, colormap, resampling, bidx (1-based)', () => {
  const s = parseTileStyle({ rescale: ['0,30', '5,10'], colormap: 'Magma', resampling: 'nearest', bidx: '3,2,1' });
  assert.deepEqual(s, { rescale: [[0, 30], [5, 10]], colormap: 'magma', resampling: 'nearest', bands: [2, 1, 0] });
  assert.deepEqual(parseTileStyle({}), { rescale: null, colormap: null, resampling: 'bilinear', bands: null });
  for (const q of [{ rescale: '5' }, { rescale: '10,5' }, { rescale: 'a,b' }, { colormap: 'nope' }, { resampling: 'cubic' }, { bidx: '0' }, { bidx: '1,2,3,4,5' }]) {
    assert.throws(() => parseTileStyle(q), InvalidInputError, JSON.stringify(q));
  }
  assert.notEqual(styleKey(parseTileStyle({ rescale: '0,30' })), styleKey(parseTileStyle({ rescale: '0,31' })));
  assert.match(styleKey(parseTileStyle({ colormap: 'viridis' })), /^[a-z0-9]+$/);
});
