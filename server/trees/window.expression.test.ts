import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWindowExpression, parseWindowSize } from './window.expression.ts';
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
