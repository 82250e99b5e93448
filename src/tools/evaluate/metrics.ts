/** Classification metrics over one evaluation run; pure functions, labels in manifest order. */

export interface Sample {
  truth: number;
  probabilities: readonly number[];
}

export interface ClassMetrics {
  label: string;
  support: number;
  precision: number;
  recall: number;
  specificity: number;
  f1: number;
  rocAuc: number;
}

export interface Metrics {
  count: number;
  accuracy: number;
  confusion: number[][];
  perClass: ClassMetrics[];
  expectedCalibrationError: number;
}

const argmax = (values: readonly number[]): number => values.reduce((best, v, i) => (v > values[best]! ? i : best), 0);
const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

export function confusionMatrix(samples: readonly Sample[], classes: number): number[][] {
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (const sample of samples) matrix[sample.truth]![argmax(sample.probabilities)]!++;
  return matrix;
}

/** One-vs-rest ROC AUC by ranks (Mann–Whitney U), ties counted half; NaN without both classes. */
export function rocAuc(scores: readonly number[], positive: readonly boolean[]): number {
  const order = scores.map((score, i) => ({ score, positive: positive[i]! })).sort((a, b) => a.score - b.score);
  let rankSumPositive = 0;
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]!.score === order[i]!.score) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (order[k]!.positive) rankSumPositive += averageRank;
    i = j + 1;
  }
  const nPositive = positive.filter(Boolean).length;
  const nNegative = positive.length - nPositive;
  if (nPositive === 0 || nNegative === 0) return Number.NaN;
  return (rankSumPositive - (nPositive * (nPositive + 1)) / 2) / (nPositive * nNegative);
}

/** ROC curve points (false positive rate, true positive rate), from the strictest threshold down. */
export function rocCurve(scores: readonly number[], positive: readonly boolean[]): Array<[number, number]> {
  const nPositive = positive.filter(Boolean).length;
  const nNegative = positive.length - nPositive;
  const order = scores.map((score, i) => ({ score, positive: positive[i]! })).sort((a, b) => b.score - a.score);
  const points: Array<[number, number]> = [[0, 0]];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; i++) {
    if (order[i]!.positive) tp++;
    else fp++;
    if (i + 1 === order.length || order[i + 1]!.score !== order[i]!.score) points.push([ratio(fp, nNegative), ratio(tp, nPositive)]);
  }
  return points;
}

/** Expected calibration error of the top-class confidence, in `bins` equal-width bins. */
export function expectedCalibrationError(samples: readonly Sample[], bins = 15): number {
  const totals = Array.from({ length: bins }, () => ({ n: 0, confidence: 0, correct: 0 }));
  for (const sample of samples) {
    const predicted = argmax(sample.probabilities);
    const confidence = sample.probabilities[predicted]!;
    const bin = totals[Math.min(bins - 1, Math.floor(confidence * bins))]!;
    bin.n++;
    bin.confidence += confidence;
    bin.correct += predicted === sample.truth ? 1 : 0;
  }
  return totals.reduce((sum, bin) => sum + (bin.n === 0 ? 0 : (Math.abs(bin.correct - bin.confidence) / bin.n) * (bin.n / samples.length)), 0);
}

/** One class against the rest, from the confusion matrix (rows: truth, columns: predicted). */
export function classCounts(confusion: readonly (readonly number[])[], c: number): { tp: number; fp: number; fn: number; tn: number; support: number } {
  const total = confusion.reduce((sum, row) => sum + row.reduce((a, b) => a + b, 0), 0);
  const tp = confusion[c]![c]!;
  const support = confusion[c]!.reduce((a, b) => a + b, 0);
  const fp = confusion.reduce((sum, row) => sum + row[c]!, 0) - tp;
  const fn = support - tp;
  return { tp, fp, fn, tn: total - tp - fp - fn, support };
}

export function computeMetrics(samples: readonly Sample[], labels: readonly string[]): Metrics {
  const confusion = confusionMatrix(samples, labels.length);
  const total = samples.length;
  const correct = confusion.reduce((sum, row, i) => sum + row[i]!, 0);
  const perClass = labels.map((label, c) => {
    const { tp, fp, fn, tn, support } = classCounts(confusion, c);
    const precision = ratio(tp, tp + fp);
    const recall = ratio(tp, tp + fn);
    return {
      label,
      support,
      precision,
      recall,
      specificity: ratio(tn, tn + fp),
      f1: ratio(2 * precision * recall, precision + recall),
      rocAuc: rocAuc(
        samples.map((s) => s.probabilities[c]!),
        samples.map((s) => s.truth === c),
      ),
    };
  });
  return { count: total, accuracy: ratio(correct, total), confusion, perClass, expectedCalibrationError: expectedCalibrationError(samples) };
}
