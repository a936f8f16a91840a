import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonBytes, MAX_NUMBER_BYTES } from './json.bytes.ts';

const text = (write: (b: JsonBytes) => void) => {
  const b = new JsonBytes(16);
  b.need(MAX_NUMBER_BYTES);
  write(b);
  return Buffer.from(b.take()).toString('latin1');
};

test('numbers are written as JSON.stringify writes them', () => {
  const values = [0, -0, 1, -1, 7, 10, 123456789, -2147483648, 2147483648, 2 ** 53 - 1, -(2 ** 53) + 1, 2 ** 53, 1e21, 1e300,
    0.5, -0.1, 0.1 + 0.2, 1 / 3, 5e-7, 1e-6, 123.456, Number.MIN_VALUE, Number.MAX_VALUE, NaN, Infinity, -Infinity];
  for (const v of values) assert.equal(text((b) => b.number(v)), JSON.stringify(v), `number(${v})`);
});

test('fixed(v, d) reads as JSON.stringify of v rounded to d decimals, for coordinates and properties', () => {
  let s = 11;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const cases: number[] = [0, -0, 1e-7, -1e-7, 5e-7, 9.99e-7, 1e-6, 1.5e-6, 0.00001, 180, -180, 90, -90, 0.1, -0.05, 12.345, 1e9, -123.0000001, 45.99999995];
  for (let i = 0; i < 200_000; i++) {
    const kind = i % 4;
    // longitudes, latitudes, small values near 0 and heights: every magnitude the exports print
    cases.push(kind === 0 ? (rand() - 0.5) * 360 : kind === 1 ? (rand() - 0.5) * 180 : kind === 2 ? (rand() - 0.5) * 1e-4 : rand() * 120);
  }
  for (const d of [2, 7, 9]) {
    const scale = 10 ** d;
    for (const v of cases) {
      const rounded = Math.round(v * scale) / scale;
      const got = text((b) => b.fixed(v, d));
      if (got !== JSON.stringify(rounded)) assert.fail(`fixed(${v}, ${d}) wrote ${got}, JSON ${JSON.stringify(rounded)}`);
    }
  }
});

test('the buffer grows on need, keeps what was written, and take hands it over', () => {
  const b = new JsonBytes(4);
  b.need(MAX_NUMBER_BYTES); b.number(12345);
  b.need(1000); for (let i = 0; i < 100; i++) b.fixed(i / 7, 3);
  const first = Buffer.from(b.take()).toString('latin1');
  assert.ok(first.startsWith('123450') && first.endsWith('14.143'), first.slice(0, 20));
  assert.equal(b.pos, 0);
  b.need(MAX_NUMBER_BYTES); b.number(-3);
  assert.equal(Buffer.from(b.take()).toString('latin1'), '-3');
});
