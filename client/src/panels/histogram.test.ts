import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binEdges, histogramSvg, niceStep } from './histogram.ts';

test('one bar per bin, heights proportional to counts, exact counts in titles', () => {
  const svg = histogramSvg({ counts: [2, 8, 4, 0], bin_width: 5, min: 0 });
  const bars = [...svg.matchAll(/<rect class="bar"[^>]*height="([\d.]+)"[^>]*data-count="(\d+)"><title>([^<]*)<\/title>/g)];
  assert.equal(bars.length, 4);
  const heights = bars.map((b) => Number(b[1]));
  // 8 is the largest count; 4 is half its bar, 0 is empty
  assert.ok(Math.abs(heights[2] / heights[1] - 0.5) < 0.02, heights.join(','));
  assert.equal(heights[3], 0);
  assert.equal(bars[1][3], '5–10 m: 8 trees');
  assert.match(svg, /14 trees in 4 height classes/);
});

test('bin edges come from the server when given, else from min and width', () => {
  assert.deepEqual(binEdges({ counts: [1, 1], edges: [2, 4.5, 7] }), [2, 4.5, 7]);
  assert.deepEqual(binEdges({ counts: [1, 1, 1], bin_width: 2, min: 2 }), [2, 4, 6, 8]);
});

test('nice tick steps', () => {
  assert.equal(niceStep(8), 2);
  assert.equal(niceStep(100), 50);
  assert.equal(niceStep(37), 10);
  assert.equal(niceStep(0), 1);
});
