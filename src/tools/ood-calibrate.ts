/**
 * `model ood-calibrate`: gives a model package its out-of-distribution detector. Adds a
 * `features` output to the ONNX graph (the flattened pooled convolution features that feed the
 * classifier head), runs the calibration images, and keeps their feature mean, principal
 * subspace and the thresholds that hold a chosen share of them inside (docs/safety.md).
 * Offline tool: the runtime never imports it.
 */
import { quantile } from './bench/bench.js';
import { DataType, makeNode, type ModelProto, type NodeProto } from '../model/onnx-io.js';
import { confidenceDeficit, subspaceResidual, type OodStatistics } from '../model/ood.js';

export const FEATURES_OUTPUT = 'features';

/**
 * Adds `features` = the input of the first Gemm/MatMul (the classifier head). In a QDQ graph
 * that input is a DequantizeLinear output, which ONNX Runtime folds into an integer Gemm; a second
 * DequantizeLinear of the same int8 tensor keeps that fusion intact and costs a few µs.
 * Returns the name of the tensor the features are taken from.
 */
export function addFeaturesOutput(model: ModelProto): string {
  const { graph } = model;
  if (graph.output.some((output) => output.name === FEATURES_OUTPUT)) throw new Error(`the graph already has an output named "${FEATURES_OUTPUT}"`);
  const head = graph.node.find((node) => node.opType === 'Gemm' || node.opType === 'MatMul');
  if (!head) throw new Error('no Gemm or MatMul node: cannot tell where the classifier head starts');
  const source = head.input[0]!;
  const producer = graph.node.find((node) => node.output.includes(source));
  let node: NodeProto;
  if (producer?.opType === 'DequantizeLinear') {
    node = makeNode('DequantizeLinear', [...producer.input], [FEATURES_OUTPUT], 'ood_features_dequantize');
    node.attribute = producer.attribute ?? [];
  } else {
    node = makeNode('Identity', [source], [FEATURES_OUTPUT], 'ood_features');
  }
  graph.node.push(node);
  graph.output.push({ name: FEATURES_OUTPUT, type: { tensorType: { elemType: DataType.FLOAT } } });
  return source;
}

function orthonormalise(columns: Float64Array[]): void {
  for (let c = 0; c < columns.length; c++) {
    const column = columns[c]!;
    // Twice: one pass of Gram–Schmidt loses orthogonality in float arithmetic.
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < c; p++) {
        const previous = columns[p]!;
        let dot = 0;
        for (let j = 0; j < column.length; j++) dot += column[j]! * previous[j]!;
        for (let j = 0; j < column.length; j++) column[j]! -= dot * previous[j]!;
      }
    }
    let norm = 0;
    for (let j = 0; j < column.length; j++) norm += column[j]! * column[j]!;
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < column.length; j++) column[j]! /= norm;
  }
}

/** Eigenvalues and eigenvectors (columns of `vectors`, row-major n×n) of a symmetric matrix, by cyclic Jacobi. */
export function symmetricEigen(matrix: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => a[i * n + i]!), vectors: v };
}

/**
 * The top `components` principal directions of the rows (already centred), by randomised
 * subspace iteration: a few passes over the data instead of a D×D covariance (D = 9216 here).
 */
export function principalSubspace(
  rows: readonly Float32Array[],
  components: number,
  options: { iterations?: number; oversample?: number; seed?: number; onProgress?: (done: number, total: number) => void } = {},
): Float32Array {
  const dim = rows[0]!.length;
  const width = Math.min(components + (options.oversample ?? 32), dim, rows.length);
  const iterations = options.iterations ?? 4;
  let state = options.seed ?? 1;
  const random = () => {
    // xorshift32: deterministic, so the same data gives the same statistics file.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296 - 0.5;
  };
  let basis = Array.from({ length: width }, () => Float64Array.from({ length: dim }, random));
  orthonormalise(basis);
  const project = (): Float64Array[] =>
    rows.map((row) => {
      const coordinates = new Float64Array(width);
      for (let c = 0; c < width; c++) {
        const column = basis[c]!;
        let dot = 0;
        for (let j = 0; j < dim; j++) dot += row[j]! * column[j]!;
        coordinates[c] = dot;
      }
      return coordinates;
    });
  for (let iteration = 0; iteration < iterations; iteration++) {
    const coordinates = project();
    const next = Array.from({ length: width }, () => new Float64Array(dim));
    rows.forEach((row, n) => {
      const y = coordinates[n]!;
      for (let c = 0; c < width; c++) {
        const weight = y[c]!;
        const column = next[c]!;
        for (let j = 0; j < dim; j++) column[j]! += weight * row[j]!;
      }
    });
    orthonormalise(next);
    basis = next;
    options.onProgress?.(iteration + 1, iterations + 1);
  }
  // Rotate the basis onto the principal axes and keep the largest `components`.
  const coordinates = project();
  const covariance = new Float64Array(width * width);
  for (const y of coordinates) for (let p = 0; p < width; p++) for (let q = 0; q < width; q++) covariance[p * width + q]! += y[p]! * y[q]!;
  const { values, vectors } = symmetricEigen(covariance, width);
  const order = Array.from(values.keys()).sort((a, b) => values[b]! - values[a]!).slice(0, components);
  const out = new Float32Array(order.length * dim);
  order.forEach((axis, k) => {
    for (let c = 0; c < width; c++) {
      const weight = vectors[c * width + axis]!;
      const column = basis[c]!;
      for (let j = 0; j < dim; j++) out[k * dim + j]! += weight * column[j]!;
    }
  });
  options.onProgress?.(iterations + 1, iterations + 1);
  return out;
}

export interface CalibrationSample {
  logits: number[];
  features: Float32Array;
}

export interface OodCalibration {
  statistics: OodStatistics;
  thresholds: { confidence: number; residual: number };
  /** Calibration images' own scores at the thresholds (each part over its threshold), for the report. */
  insideShare: number;
}

/** Mean, principal subspace and the `percentile` thresholds of both parts over the samples. */
export function calibrateOod(
  samples: readonly CalibrationSample[],
  options: { components: number; percentile: number; temperature: number; onProgress?: (done: number, total: number) => void },
): OodCalibration {
  if (samples.length <= options.components) throw new Error(`${samples.length} calibration images are too few for ${options.components} components; give more than ${options.components}`);
  const dim = samples[0]!.features.length;
  const mean = new Float32Array(dim);
  const sums = new Float64Array(dim);
  for (const { features } of samples) for (let j = 0; j < dim; j++) sums[j]! += features[j]!;
  for (let j = 0; j < dim; j++) mean[j] = sums[j]! / samples.length;
  const centred = samples.map(({ features }) => features.map((value, j) => value - mean[j]!));
  const components = principalSubspace(centred, options.components, { onProgress: options.onProgress });
  const statistics: OodStatistics = { mean, components };
  const confidences = samples.map((sample) => confidenceDeficit(sample.logits, options.temperature));
  const residuals = samples.map((sample) => subspaceResidual(sample.features, statistics));
  const partThresholds = { confidence: Math.max(quantile(confidences, options.percentile / 100), 1e-12), residual: quantile(residuals, options.percentile / 100) };
  if (!(partThresholds.residual > 0)) {
    // Every image inside the subspace exactly: the features do not vary, so nothing could ever be told apart from them.
    throw new Error(`the model's features are the same for ${options.percentile}% of the ${samples.length} calibration images (no residual outside the ${options.components} components): an untrained or broken network; the OOD detector cannot be calibrated on it`);
  }
  // Each part alone keeps `percentile` inside; their maximum would keep fewer. Scaling both by
  // the maximum's own percentile keeps `percentile` of the images inside the combined score.
  // (The floor keeps the ratio finite for a model that fits its calibration images exactly.)
  const combined = samples.map((_, i) => Math.max(confidences[i]! / partThresholds.confidence, residuals[i]! / partThresholds.residual));
  const scale = quantile(combined, options.percentile / 100);
  const thresholds = { confidence: partThresholds.confidence * scale, residual: partThresholds.residual * scale };
  const inside = samples.filter((_, i) => confidences[i]! <= thresholds.confidence && residuals[i]! <= thresholds.residual).length;
  return { statistics, thresholds, insideShare: inside / samples.length };
}
