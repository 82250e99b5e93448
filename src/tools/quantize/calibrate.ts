/**
 * Activation ranges from running the fp32 model on sample images: the tensors to quantize are
 * added as extra graph outputs, a first pass finds each one's min and max, a second builds a
 * histogram over that span, and each method reads its range from those statistics.
 */
import type { Range } from './qdq.js';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

const BINS = 2048;

export class TensorStats {
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  histogram: Float64Array | undefined;
  private count = 0;

  observeRange(values: Float32Array): void {
    let min = this.min;
    let max = this.max;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    this.min = min;
    this.max = max;
  }

  /** Second pass: counts over [min, max] (the span the first pass found). */
  observeHistogram(values: Float32Array): void {
    const histogram = (this.histogram ??= new Float64Array(BINS));
    const lo = this.min;
    const width = (this.max - this.min) / BINS;
    if (!(width > 0)) {
      histogram[0]! += values.length;
      this.count += values.length;
      return;
    }
    const inverse = 1 / width;
    for (let i = 0; i < values.length; i++) {
      let bin = Math.floor((values[i]! - lo) * inverse);
      if (bin >= BINS) bin = BINS - 1;
      else if (bin < 0) bin = 0;
      histogram[bin]!++;
    }
    this.count += values.length;
  }

  get binWidth(): number {
    return (this.max - this.min) / BINS;
  }

  /** The value below which `fraction` of the samples lie (upper bin edge). */
  quantile(fraction: number): number {
    const histogram = this.histogram;
    if (!histogram || this.count === 0) return fraction < 0.5 ? this.min : this.max;
    const target = fraction * this.count;
    let cumulative = 0;
    for (let bin = 0; bin < BINS; bin++) {
      cumulative += histogram[bin]!;
      if (cumulative >= target) return this.min + (bin + 1) * this.binWidth;
    }
    return this.max;
  }
}

export interface MethodOptions {
  /** Percentile of |activations| kept (two-sided for signed tensors). */
  percentile: number;
}

export function rangeFor(stats: TensorStats, method: CalibrationMethod, options: MethodOptions = { percentile: 99.999 }): Range {
  const full = { min: stats.min, max: stats.max };
  if (!Number.isFinite(stats.min) || !Number.isFinite(stats.max)) return { min: 0, max: 0 };
  if (method === 'minmax' || !stats.histogram) return full;
  const signed = stats.min < 0;
  if (method === 'percentile') {
    const tail = (100 - options.percentile) / 100;
    return signed ? { min: Math.min(0, stats.quantile(tail / 2) - stats.binWidth), max: Math.max(0, stats.quantile(1 - tail / 2)) } : { min: stats.min, max: stats.quantile(1 - tail) };
  }
  // entropy: non-negative tensors (after ReLU) only; a signed tensor (the normalised image) keeps min-max
  if (signed) return full;
  return { min: stats.min, max: stats.min + entropyThresholdBins(stats.histogram) * stats.binWidth };
}

/**
 * The threshold (in bins) whose 256-level quantization loses least information: minimises
 * KL(P‖Q), P the histogram clipped at the threshold (outliers folded into the last bin), Q the
 * same mass spread evenly over P's non-empty bins within each of 256 quantization levels.
 */
export function entropyThresholdBins(histogram: Float64Array, levels = 256, step = 8): number {
  const bins = histogram.length;
  let lastNonEmpty = bins;
  while (lastNonEmpty > 0 && histogram[lastNonEmpty - 1] === 0) lastNonEmpty--;
  if (lastNonEmpty <= levels) return Math.max(lastNonEmpty, 1);
  const suffix = new Float64Array(bins + 1);
  for (let i = bins - 1; i >= 0; i--) suffix[i] = suffix[i + 1]! + histogram[i]!;
  let best = bins;
  let bestDivergence = Number.POSITIVE_INFINITY;
  const p = new Float64Array(bins);
  const q = new Float64Array(bins);
  for (let threshold = levels; threshold <= bins; threshold += step) {
    for (let i = 0; i < threshold; i++) p[i] = histogram[i]!;
    p[threshold - 1]! += suffix[threshold]!;
    q.fill(0, 0, threshold);
    for (let level = 0; level < levels; level++) {
      const start = Math.floor((level * threshold) / levels);
      const end = Math.floor(((level + 1) * threshold) / levels);
      let mass = 0;
      let nonEmpty = 0;
      for (let i = start; i < end; i++) {
        mass += p[i]!;
        if (p[i]! > 0) nonEmpty++;
      }
      if (nonEmpty === 0) continue;
      const share = mass / nonEmpty;
      for (let i = start; i < end; i++) if (p[i]! > 0) q[i] = share;
    }
    let pTotal = 0;
    let qTotal = 0;
    for (let i = 0; i < threshold; i++) {
      pTotal += p[i]!;
      qTotal += q[i]!;
    }
    let divergence = 0;
    for (let i = 0; i < threshold; i++) {
      if (p[i]! === 0) continue;
      const pi = p[i]! / pTotal;
      const qi = q[i]! > 0 ? q[i]! / qTotal : 1e-12;
      divergence += pi * Math.log(pi / qi);
    }
    if (divergence < bestDivergence) {
      bestDivergence = divergence;
      best = threshold;
    }
  }
  return best;
}
