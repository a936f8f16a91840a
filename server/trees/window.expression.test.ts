import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWindowExpression, parseWindowSize, windowSizeProblem } from './window.expression.ts';
import { InvalidInputError } from '../errors.ts';

test('parses lidR-style window functions of h without eval', () => {
  const f = parseWindowExpression('0.07*h+3');
  assert.equal(f(10), 0.07 * 10 + 3);
  assert.equal(parseWindowExpression('2 * (h - 1) ^ 2 / 4')(3), 2);
  assert.equal(parseWindowExpression('-h + 10')(4), 6);
  assert.equal(parseWindowExpression('max(3, min(h*0.1, 8))')(50), 5);
  assert.equal(parseWindowExpression('2^3^2')(0), 512); // right-associative
  assert.equal(parseWindowExpression('1.5e1')(0), 15);
});

test('a plain number is a fixed window; nonsense is a clear InvalidInputError', () => {
  assert.equal(parseWindowSize('5'), 5);
  assert.equal(typeof parseWindowSize('0.07*h+3'), 'function');
  for (const bad of ['process.exit(1)', 'h +', '(h', 'h h', '', '0', '-3', 'constructor', '1;2', 'x'.repeat(300)]) {
    assert.throws(() => parseWindowSize(bad), InvalidInputError, bad);
  }
});

test('a window function out of range at some height is refused naming that height and a readable size', () => {
  assert.equal(windowSizeProblem(parseWindowSize('0.07*h+3'), 2), null);
  // h^3 passes 100 m at about 4.7 m: said as 103.8 m, not with float noise
  assert.equal(windowSizeProblem(parseWindowSize('h*h*h'), 2), 'the window size function gives 103.8 m at height 4.7 m; it must give (0, 100] m at every height from 2 to 100 m');
  assert.match(windowSizeProblem(parseWindowSize('1/(h-2)'), 2)!, /gives Infinity m at height 2 m/);
  assert.equal(windowSizeProblem(120, 2), 'the window diameter must be in (0, 100] m, got 120');
});
