/**
 * Which parts of an fp32 ONNX graph become INT8, and which tensors need calibrated ranges.
 *
 * - Conv, Gemm and MatMul with a constant float weight get per-channel symmetric int8 weights
 *   (the output-channel axis) and an int32 bias, with their activation input quantized;
 * - a Conv's output is quantized too (ORT fuses DQ → Conv → Q into QLinearConv); a Relu that is
 *   a Conv's (or Gemm's) only consumer is folded into that output's range, as ORT's own quantizer
 *   does, so the quantization clamp at the zero point is the ReLU;
 * - pass-through ops (MaxPool, AveragePool, Flatten, Reshape, …) share their input's
 *   quantization, so ORT runs them on int8 and nothing is requantized;
 * - a MatMul that reads a weight quantized for a Gemm along its reduction axis (AlexNet's
 *   in-graph Grad-CAM multiplies by the classifier weights transposed) reuses the same int8
 *   data: the per-row scales move onto its activation input (A·diag(s)·Q), which is then
 *   quantized dynamically, per inference, so the CAM keeps its own exact range.
 * Everything else stays float and is listed with the reason.
 */
import { attribute, DataType, dimsOf, floatAttribute, int64Data, intAttribute, num, type GraphProto, type NodeProto, type TensorProto } from '../../model/onnx-io.js';

export type SharedWeightMode = 'int8-dynamic' | 'float';

export interface PlanOptions {
  /** Node names (or output tensor names) to keep in float. */
  exclude?: readonly string[];
  /** A MatMul reading a weight along that weight's quantization axis (the CAM MatMuls). */
  sharedWeightMatMul?: SharedWeightMode;
}

export interface QuantizedWeight {
  name: string;
  /** The per-channel axis. */
  axis: number;
  dims: number[];
}

export type NodeRole =
  | { kind: 'conv'; weight: string; bias?: string; input: string }
  | { kind: 'gemm'; weight: string; bias?: string; input: string; outputQuantized: boolean }
  | { kind: 'matmul'; weight: string; input: string }
  /** MatMul(A, W) where W is quantized along A's reduction axis: A·diag(s) then int8 W. */
  | { kind: 'matmul-folded'; weight: string; input: string; mode: SharedWeightMode }
  /**
   * MatMul(A, W) → Reshape [·, C, P] → ReduceMean over P (Grad-CAM's channel weights from the
   * gradient at the pooled map): the mean moves into the weight, A·W̄ with W̄ [K, C] the mean of
   * each group of P columns, so the CAM reads a C-column matrix instead of the whole weight.
   */
  | { kind: 'matmul-reduced'; weight: string; input: string; mode: SharedWeightMode; groups: number; size: number; output: string };

export interface QuantPlan {
  /** Node index → what it becomes. */
  roles: Map<number, NodeRole>;
  weights: Map<string, QuantizedWeight>;
  /** Relu node indices folded into their producer's output range. */
  removedRelus: Set<number>;
  /** Reshape/ReduceMean node indices absorbed into a matmul-reduced. */
  absorbed: Set<number>;
  /** Producer node index → its output name after a Relu fold (the Relu's output). */
  renamedOutputs: Map<number, string>;
  /** Activation tensors that get a QuantizeLinear/DequantizeLinear pair. */
  quantized: Set<string>;
  /** tensor → the tensor whose quantization parameters it shares (pass-through ops). */
  tiedTo: Map<string, string>;
  /**
   * Relu outputs whose Relu must stay a separate op: its input has other readers (the CAM's
   * masks read a Gemm's pre-activation), so ORT must not fold the Relu into the quantization.
   */
  keepRelu: Set<string>;
  /** Tensors whose ranges calibration must measure (names in the original graph). */
  calibrate: string[];
  /** Ops left in float that carry real compute, with why. */
  float: Array<{ node: string; opType: string; reason: string }>;
}

const PASS_THROUGH = new Set(['MaxPool', 'AveragePool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze']);
/** Ops worth reporting when they stay float (the rest is cheap glue). */
const COMPUTE = new Set(['Conv', 'Gemm', 'MatMul', 'LRN', 'ConvTranspose', 'Attention', 'LSTM', 'GRU']);

export function nodeLabel(node: NodeProto, index: number): string {
  return node.name || `${node.opType}#${index}`;
}

export function planQuantization(graph: GraphProto, options: PlanOptions = {}): QuantPlan {
  const nodes = graph.node ?? [];
  const initializers = new Map<string, TensorProto>((graph.initializer ?? []).map((t) => [t.name!, t]));
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name!));
  const consumers = new Map<string, number[]>();
  const producer = new Map<string, number>();
  nodes.forEach((node, index) => {
    for (const input of node.input ?? []) if (input) consumers.set(input, [...(consumers.get(input) ?? []), index]);
    for (const output of node.output ?? []) producer.set(output, index);
  });
  const excluded = new Set(options.exclude ?? []);
  const isExcluded = (node: NodeProto) => excluded.has(node.name ?? '') || (node.output ?? []).some((o) => excluded.has(o));
  const floatWeight = (name: string | undefined, rank: number) => {
    const tensor = name ? initializers.get(name) : undefined;
    return tensor !== undefined && tensor.dataType === DataType.FLOAT && dimsOf(tensor).length === rank;
  };
  const floatOps: QuantPlan['float'] = [];
  const keepFloat = (node: NodeProto, index: number, reason: string) => {
    if (COMPUTE.has(node.opType ?? '')) floatOps.push({ node: nodeLabel(node, index), opType: node.opType!, reason });
  };

  // 1. weight axes, from the Conv/Gemm/MatMul that own them (first user wins)
  const weights = new Map<string, QuantizedWeight>();
  const candidates: Array<{ index: number; node: NodeProto }> = [];
  nodes.forEach((node, index) => {
    const [input, weight, bias] = node.input ?? [];
    if (!['Conv', 'Gemm', 'MatMul'].includes(node.opType ?? '')) {
      keepFloat(node, index, node.opType === 'LRN' ? 'ONNX Runtime has no integer kernel for LRN' : 'not quantized');
      return;
    }
    if (isExcluded(node)) return keepFloat(node, index, 'excluded (--keep-float)');
    if (!input || initializers.has(input)) return keepFloat(node, index, 'its input is a constant');
    if (node.opType === 'Conv') {
      if (!floatWeight(weight, 4) || (bias && !floatWeight(bias, 1))) return keepFloat(node, index, 'weight or bias is not a constant float tensor');
    } else if (node.opType === 'Gemm') {
      if (!floatWeight(weight, 2)) return keepFloat(node, index, 'B is not a constant float matrix');
      if (intAttribute(node, 'transA', 0) !== 0 || floatAttribute(node, 'alpha', 1) !== 1 || floatAttribute(node, 'beta', 1) !== 1) {
        return keepFloat(node, index, 'transA, alpha or beta other than the defaults');
      }
      const n = dimsOf(initializers.get(weight!)!)[intAttribute(node, 'transB', 0) === 1 ? 0 : 1]!;
      if (bias && !(floatWeight(bias, 1) && dimsOf(initializers.get(bias)!)[0] === n)) return keepFloat(node, index, 'C is not a constant vector of N values');
    } else if (!floatWeight(weight, 2)) {
      return keepFloat(node, index, 'B is not a constant float matrix');
    }
    candidates.push({ index, node });
  });
  // a Conv/Gemm decides a shared weight's axis; a weight only MatMuls read is per column
  for (const pass of ['owner', 'matmul'] as const) {
    for (const { node } of candidates) {
      const weight = node.input![1]!;
      if (weights.has(weight) || (pass === 'owner') === (node.opType === 'MatMul')) continue;
      const axis = node.opType === 'Conv' ? 0 : node.opType === 'Gemm' ? (intAttribute(node, 'transB', 0) === 1 ? 0 : 1) : 1;
      weights.set(weight, { name: weight, axis, dims: dimsOf(initializers.get(weight)!) });
    }
  }

  // constants: initializers and Constant nodes
  const constantValues = new Map<string, TensorProto>(initializers);
  for (const node of nodes) {
    const value = node.opType === 'Constant' ? node.attribute?.find((a) => a.name === 'value')?.t : undefined;
    if (value) constantValues.set(node.output[0]!, value);
  }
  const intValues = (name: string | undefined): number[] | undefined => {
    const tensor = name ? constantValues.get(name) : undefined;
    return tensor && tensor.dataType === DataType.INT64 ? int64Data(tensor) : undefined;
  };
  const absorbed = new Set<number>();
  /** MatMul → Reshape [1|-1, C, P] → ReduceMean(axes [2], keepdims 0), each the only reader. */
  const reducedMean = (index: number) => {
    const node = nodes[index]!;
    const n = dimsOf(initializers.get(node.input[1]!)!)[1]!;
    const only = (tensor: string) => {
      const users = consumers.get(tensor) ?? [];
      return users.length === 1 && !graphOutputs.has(tensor) ? users[0]! : undefined;
    };
    const reshapeIndex = only(node.output[0]!);
    const reshape = reshapeIndex === undefined ? undefined : nodes[reshapeIndex]!;
    const shape = intValues(reshape?.input[1]);
    if (reshape?.opType !== 'Reshape' || !shape || shape.length !== 3 || ![1, -1].includes(shape[0]!) || shape[1]! * shape[2]! !== n) return undefined;
    const meanIndex = only(reshape.output[0]!);
    const mean = meanIndex === undefined ? undefined : nodes[meanIndex]!;
    if (mean?.opType !== 'ReduceMean' || intAttribute(mean, 'keepdims', 1) !== 0) return undefined;
    const axes = mean.input[1] ? intValues(mean.input[1]) : (attribute(mean, 'axes')?.ints ?? []).map((v) => num(v));
    if (!axes || axes.length !== 1 || (axes[0] !== 2 && axes[0] !== -1)) return undefined;
    return { groups: shape[1]!, size: shape[2]!, output: mean.output[0]!, nodes: [reshapeIndex!, meanIndex!] };
  };

  // 2. roles
  const roles = new Map<number, NodeRole>();
  for (const { index, node } of candidates) {
    const [input, weight, bias] = node.input as string[];
    const axis = weights.get(weight!)!.axis;
    const ownAxis = node.opType === 'Conv' ? 0 : node.opType === 'Gemm' ? (intAttribute(node, 'transB', 0) === 1 ? 0 : 1) : axis;
    if (ownAxis !== axis) {
      keepFloat(node, index, 'shares its weight with a layer that reads it along another axis');
      continue;
    }
    if (node.opType === 'Conv') roles.set(index, { kind: 'conv', weight: weight!, input: input!, ...(bias ? { bias } : {}) });
    else if (node.opType === 'Gemm') roles.set(index, { kind: 'gemm', weight: weight!, input: input!, outputQuantized: false, ...(bias ? { bias } : {}) });
    else if (reducedMean(index)) {
      const { groups, size, output, nodes: gone } = reducedMean(index)!;
      for (const n of gone) absorbed.add(n);
      roles.set(index, { kind: 'matmul-reduced', weight: weight!, input: input!, mode: options.sharedWeightMatMul ?? 'int8-dynamic', groups, size, output });
    } else if (axis === 1) roles.set(index, { kind: 'matmul', weight: weight!, input: input! });
    else {
      const mode = options.sharedWeightMatMul ?? 'int8-dynamic';
      roles.set(index, { kind: 'matmul-folded', weight: weight!, input: input!, mode });
      if (mode === 'float') keepFloat(node, index, 'reads a weight along its quantization axis (CAM path); kept in float on request, on the int8 weight values');
    }
  }

  // a weight only reduced MatMuls read needs no full int8 copy
  for (const name of [...weights.keys()]) {
    const users = [...roles.values()].filter((r) => r.weight === name);
    if (users.length > 0 && users.every((r) => r.kind === 'matmul-reduced') && !nodes.some((n, i) => !roles.has(i) && n.input.includes(name))) weights.delete(name);
  }

  // 3. Relu folding: a Conv/Gemm whose only consumer is a Relu
  const removedRelus = new Set<number>();
  const renamedOutputs = new Map<number, string>();
  for (const [index, role] of roles) {
    if (role.kind !== 'conv' && role.kind !== 'gemm') continue;
    const output = nodes[index]!.output![0]!;
    const users = consumers.get(output) ?? [];
    if (users.length !== 1 || graphOutputs.has(output)) continue;
    const relu = nodes[users[0]!]!;
    if (relu.opType !== 'Relu') continue;
    removedRelus.add(users[0]!);
    renamedOutputs.set(index, relu.output![0]!);
    if (role.kind === 'gemm') role.outputQuantized = true;
  }

  // 4. activations to quantize
  const quantized = new Set<string>();
  for (const [index, role] of roles) {
    if (role.kind !== 'matmul-folded' && role.kind !== 'matmul-reduced') quantized.add(role.input);
    if (role.kind === 'conv' || (role.kind === 'gemm' && role.outputQuantized)) quantized.add(renamedOutputs.get(index) ?? nodes[index]!.output![0]!);
  }
  // producers after the Relu fold
  const producerAfter = new Map(producer);
  for (const [index, name] of renamedOutputs) producerAfter.set(name, index);
  for (const index of removedRelus) producerAfter.delete(nodes[index]!.input![0]!);
  const tiedTo = new Map<string, string>();
  const queue = [...quantized];
  while (queue.length > 0) {
    const tensor = queue.pop()!;
    const index = producerAfter.get(tensor);
    if (index === undefined) continue;
    const node = nodes[index]!;
    const source = node.input?.[0];
    if (!PASS_THROUGH.has(node.opType ?? '') || !source || initializers.has(source) || isExcluded(node)) continue;
    if (node.opType === 'AveragePool' && intAttribute(node, 'count_include_pad', 0) === 1) continue;
    tiedTo.set(tensor, source);
    if (!quantized.has(source)) {
      quantized.add(source);
      queue.push(source);
    }
  }
  const calibrate = [...quantized].filter((name) => !tiedTo.has(name));
  const keepRelu = new Set<string>();
  for (const name of calibrate) {
    const index = producerAfter.get(name);
    const node = index === undefined ? undefined : nodes[index]!;
    if (node?.opType === 'Relu' && !removedRelus.has(index!) && (consumers.get(node.input[0]!) ?? []).length > 1) keepRelu.add(name);
  }
  return { roles, weights, removedRelus, absorbed, renamedOutputs, quantized, tiedTo, keepRelu, calibrate, float: floatOps };
}

/** The tensor whose range sets `name`'s quantization (following pass-through ties). */
export function rootOf(plan: QuantPlan, name: string): string {
  let current = name;
  for (let guard = 0; plan.tiedTo.has(current) && guard < 10_000; guard++) current = plan.tiedTo.get(current)!;
  return current;
}
