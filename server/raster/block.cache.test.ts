import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitBytePlanes } from './block.cache.ts';

/** Sample s of a tw-wide interleaved block, clipped to cw x ch, summed back along rows when differenced: one byte at a time. */
function reference(src: Uint8Array, tw: number, spp: number, cw: number, ch: number, s: number, differenced: boolean): Uint8Array {
  const out = new Uint8Array(cw * ch);
  for (let y = 0; y < ch; y++) {
    let acc = 0;
    for (let x = 0; x < cw; x++) {
      const v = src[(y * tw + x) * spp + s];
      out[y * cw + x] = differenced ? (acc = (acc + v) % 256) : v;
    }
  }
  return out;
}

test('sample planes of an interleaved byte block, whole or clipped, with and without predictor 2, by one pass or by sample', () => {
  const tw = 16, th = 8;
  for (const spp of [3, 4]) {
    const src = Uint8Array.from({ length: tw * th * spp }, (_, i) => (i * 2654435761) >>> 24);
    for (const [cw, ch] of [[tw, th], [11, 5]]) {
      for (const differenced of [false, true]) {
        // [0, 1, 2]: the one-pass split of RGB(A); the others sample by sample
        for (const samples of [[0, 1, 2], [2, 0], [spp - 1], [0, 1, 2, 3].slice(0, spp)]) {
          const got = splitBytePlanes(src, tw, spp, cw, ch, samples, differenced);
          assert.equal(got.length, samples.length);
          samples.forEach((s, k) => assert.deepEqual(got[k], reference(src, tw, spp, cw, ch, s, differenced), `spp ${spp}, ${cw}x${ch}, differenced ${differenced}, samples ${samples}: sample ${s}`));
        }
      }
    }
  }
});
