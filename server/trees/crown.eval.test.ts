import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hungarianMax, iou, parseVocBoxes, scoreCrowns } from './crown.eval.ts';

test('hungarianMax finds the best one-to-one assignment, greedy would not', () => {
  // greedy takes 9 first and then 1; the optimum pairs 8 + 8
  const m = hungarianMax([[9, 8], [8, 1]]);
  assert.deepEqual(m, [1, 0]);
  // rectangular: more predictions than truth, and a row with nothing
  assert.deepEqual(hungarianMax([[0, 5, 1], [0, 0, 0]]).slice(0, 1), [1]);
  // brute force agreement on random 5x5 matrices
  let seed = 1;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let trial = 0; trial < 20; trial++) {
    const s = Array.from({ length: 5 }, () => Array.from({ length: 5 }, () => Math.floor(rand() * 10)));
    const m2 = hungarianMax(s);
    const total = m2.reduce((acc, j, i) => acc + s[i][j], 0);
    let best = 0;
    const perm = (k: number, used: number, acc: number) => {
      if (k === 5) { best = Math.max(best, acc); return; }
      for (let j = 0; j < 5; j++) if (!(used & (1 << j))) perm(k + 1, used | (1 << j), acc + s[k][j]);
    };
    perm(0, 0, 0);
    assert.equal(total, best);
  }
});

test('scoreCrowns counts a true positive only above IoU 0.4', () => {
  const truth = [{ xmin: 0, ymin: 0, xmax: 10, ymax: 10 }, { xmin: 20, ymin: 0, xmax: 30, ymax: 10 }];
  const pred = [{ xmin: 1, ymin: 1, xmax: 10, ymax: 10 }, { xmin: 25, ymin: 0, xmax: 35, ymax: 10 }, { xmin: 50, ymin: 50, xmax: 51, ymax: 51 }];
  assert.ok(Math.abs(iou(truth[1], pred[1]) - 1 / 3) < 1e-12);
  const s = scoreCrowns(pred, truth);
  assert.equal(s.truePositives, 1);
  assert.equal(s.recall, 0.5);
  assert.equal(s.precision, 1 / 3);
});

test('parses Pascal VOC boxes', () => {
  const xml = '<annotation><object><name>Tree</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object><object><bndbox><xmin>5</xmin><ymin>5</ymin><xmax>5</xmax><ymax>9</ymax></bndbox></object></annotation>';
  assert.deepEqual(parseVocBoxes(xml), [{ xmin: 1, ymin: 2, xmax: 30, ymax: 40 }]);
});
