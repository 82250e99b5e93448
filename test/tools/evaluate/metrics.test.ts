import test from 'ava';
import { computeMetrics, expectedCalibrationError, rocAuc, rocCurve } from '../../../src/tools/evaluate/metrics.js';

const labels = ['normal', 'fracture', 'dislocation'];
const one = (truth: number, predicted: number, confidence = 0.8) => {
  const probabilities = [0, 0, 0].map((_, i) => (i === predicted ? confidence : (1 - confidence) / 2));
  return { truth, probabilities };
};

test('confusion matrix, accuracy, precision, recall, specificity and F1 by hand', (t) => {
  // normal: 4 right, 1 called fracture; fracture: 3 right, 1 called normal; dislocation: 2 right.
  const samples = [...Array(4).fill(one(0, 0)), one(0, 1), ...Array(3).fill(one(1, 1)), one(1, 0), one(2, 2), one(2, 2)];
  const m = computeMetrics(samples, labels);
  t.deepEqual(m.confusion, [[4, 1, 0], [1, 3, 0], [0, 0, 2]]);
  t.is(m.accuracy, 9 / 11);
  const fracture = m.perClass[1]!;
  t.is(fracture.support, 4);
  t.is(fracture.precision, 3 / 4);
  t.is(fracture.recall, 3 / 4);
  t.is(fracture.specificity, 6 / 7);
  t.is(fracture.f1, 0.75);
  t.is(m.perClass[2]!.recall, 1);
});

test('ROC AUC: 1 for a perfect ranking, 0.5 for ties, exact for a known case', (t) => {
  t.is(rocAuc([0.9, 0.8, 0.3, 0.1], [true, true, false, false]), 1);
  t.is(rocAuc([0.5, 0.5, 0.5, 0.5], [true, false, true, false]), 0.5);
  t.is(rocAuc([0.9, 0.4, 0.6, 0.1], [true, true, false, false]), 0.75);
  t.true(Number.isNaN(rocAuc([0.2, 0.3], [true, true])));
  t.deepEqual(rocCurve([0.9, 0.4, 0.6, 0.1], [true, true, false, false]), [[0, 0], [0, 0.5], [0.5, 0.5], [0.5, 1], [1, 1]]);
});

test('ECE is 0 when confidence matches accuracy and grows with overconfidence', (t) => {
  // 10 samples at confidence 0.8, 8 right: perfectly calibrated.
  const calibrated = [...Array(8).fill(one(0, 0, 0.8)), one(0, 1, 0.8), one(0, 2, 0.8)];
  t.true(expectedCalibrationError(calibrated) < 1e-9);
  const overconfident = [...Array(5).fill(one(0, 0, 0.99)), ...Array(5).fill(one(0, 1, 0.99))];
  t.true(Math.abs(expectedCalibrationError(overconfident) - 0.49) < 1e-9);
});
