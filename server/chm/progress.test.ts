import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, formatProgressBar } from './progress.ts';

test('progress bar shows fraction, counts, rate and ETA', () => {
  const line = formatProgressBar({ done: 30, total: 120, elapsedSeconds: 10, etaSeconds: 30 }, 20);
  assert.equal(line, '[#####---------------]  25%  30/120 tiles  3.0 tiles/s  ETA 30s');
  assert.match(formatProgressBar({ done: 0, total: 10, elapsedSeconds: 0, etaSeconds: null }), /ETA --$/);
  assert.equal(formatDuration(65), '1m05s');
  assert.equal(formatDuration(3725), '1h02m');
});
