/**
 * Writes the QDQ graph for a plan and a set of activation ranges: int8 weights with per-channel
 * scales, int32 biases, QuantizeLinear/DequantizeLinear pairs on activations, in the layout ONNX
 * Runtime's CPU provider fuses into QLinearConv, QGemm, MatMulIntegerToFloat and
 * DynamicQuantizeMatMul.
 */
import type { onnx } from 'onnx-proto';
import {
  DataType,
  defaultOpset,
  dimsOf,
  floatData,
  floatTensor,
  int32Tensor,
  int8Tensor,
  makeNode,
  uint8Tensor,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from '../../model/onnx-io.js';
import { rootOf, type QuantPlan } from './plan.js';

export interface Range {
  min: number;
  max: number;
}

export interface ActivationParams {
  scale: number;
  zeroPoint: number;
}

export type ActivationType = 'int8' | 'uint8';

/**
 * Asymmetric 8-bit parameters, the range widened to hold 0 (so 0 is exact and a ReLU range has
 * its zero point at the type's minimum). `keepRelu` moves the zero point one step up, so ONNX
 * Runtime does not fold a Relu into this quantization (used where the Relu's input has other
 * readers that need it in float: the CAM's gradient masks).
 */
export function activationParams(range: Range, type: ActivationType = 'uint8', keepRelu = false): ActivationParams {
  let min = Math.min(0, range.min);
  const max = Math.max(0, range.max);
  if (!(max - min > 1e-12) || !Number.isFinite(max - min)) return { scale: 1, zeroPoint: 0 };
  if (keepRelu && min === 0) min = -max / 254;
  const qmin = type === 'int8' ? -128 : 0;
  const scale = Math.fround((max - min) / 255);
  const zeroPoint = Math.max(qmin, Math.min(qmin + 255, Math.round(qmin - min / scale)));
  return { scale, zeroPoint };
}

export interface QuantizedWeightData {
  values: Int8Array;
  scales: Float32Array;
}

/** Per-channel symmetric int8 in [−127, 127]: scale = max|w| / 127 per channel along `axis`. */
export function quantizeWeights(values: Float32Array, dims: number[], axis: number): QuantizedWeightData {
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const peak = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) {
    const c = Math.floor(i / inner) % channels;
    const v = Math.abs(values[i]!);
    if (v > peak[c]!) peak[c] = v;
  }
  const scales = Float32Array.from(peak, (p) => (p > 0 ? p / 127 : 1));
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const c = Math.floor(i / inner) % channels;
    q[i] = Math.max(-127, Math.min(127, Math.round(values[i]! / scales[c]!)));
  }
  return { values: q, scales };
}

export interface QdqResult {
  model: onnx.IModelProto;
  /** Biases whose int32 values had to be clamped (a sign the input range is far too small). */
  clampedBiases: string[];
  /** Quantization parameters per activation tensor, for the manifest. */
  activations: Record<string, ActivationParams>;
}

export const METADATA_KEY = 'cspine.quantization';

export interface BuildOptions {
  activationType?: ActivationType;
  /** Stored in the model's metadata_props under cspine.quantization. */
  metadata?: Record<string, unknown>;
}

export function buildQdqModel(source: ModelProto, plan: QuantPlan, ranges: ReadonlyMap<string, Range>, options: BuildOptions = {}): QdqResult {
  const activationType = options.activationType ?? 'uint8';
  const zeroPointTensor = (name: string, value: number) =>
    activationType === 'int8' ? int8Tensor(name, [], Int8Array.of(value)) : uint8Tensor(name, [], Uint8Array.of(value));
  const graph = source.graph!;
  const nodes = graph.node;
  const initializers = new Map<string, TensorProto>(graph.initializer.map((t) => [t.name!, t]));
  const newInitializers: TensorProto[] = [];
  const replaced = new Set<string>();
  const out: NodeProto[] = [];
  const clampedBiases: string[] = [];
  const activations: Record<string, ActivationParams> = {};
  const graphOutputs = new Set(graph.output.map((o) => o.name!));

  // activation parameters, one initializer pair per root tensor
  const params = new Map<string, ActivationParams & { scaleName: string; zeroName: string }>();
  const paramsOf = (tensor: string) => {
    const root = rootOf(plan, tensor);
    let entry = params.get(root);
    if (!entry) {
      const range = ranges.get(root);
      if (!range) throw new Error(`no calibrated range for ${root}`);
      const { scale, zeroPoint } = activationParams(range, activationType, plan.keepRelu.has(root));
      entry = { scale, zeroPoint, scaleName: `${root}_scale`, zeroName: `${root}_zero_point` };
      newInitializers.push(floatTensor(entry.scaleName, [], [scale]), zeroPointTensor(entry.zeroName, zeroPoint));
      params.set(root, entry);
    }
    activations[tensor] = { scale: entry.scale, zeroPoint: entry.zeroPoint };
    return entry;
  };

  // weights: int8 + scales, once per initializer
  const weightData = new Map<string, QuantizedWeightData>();
  for (const weight of plan.weights.values()) {
    const tensor = initializers.get(weight.name)!;
    const data = quantizeWeights(floatData(tensor), weight.dims, weight.axis);
    weightData.set(weight.name, data);
    const channels = weight.dims[weight.axis]!;
    newInitializers.push(
      int8Tensor(`${weight.name}_quantized`, weight.dims, data.values),
      floatTensor(`${weight.name}_scale`, [channels], data.scales),
      int8Tensor(`${weight.name}_zero_point`, [channels], new Int8Array(channels)),
    );
    replaced.add(weight.name);
  }
  // A MatMul reading W along W's channel axis (the reduction axis): A·W = (A·diag(s/c))·(c·Q), so
  // the int8 data is shared and W gets one per-tensor scale c = max(s) (not 1: ORT's fusion
  // pattern needs the scale product, which a multiplication by 1 would be simplified away).
  const folded = new Set<string>();
  const foldParams = (weight: string) => {
    if (!folded.has(weight)) {
      folded.add(weight);
      const scales = weightData.get(weight)!.scales;
      const c = scales.reduce((a, b) => Math.max(a, b), 0) || 1;
      newInitializers.push(
        floatTensor(`${weight}_matmul_scale`, [], [c]),
        int8Tensor(`${weight}_matmul_zero_point`, [], Int8Array.of(0)),
        floatTensor(`${weight}_row_scale`, [scales.length], scales.map((v) => v / c)),
      );
    }
  };
  // one DequantizeLinear per consumer (ORT's node units need their own)
  const weightDq = (weight: string, consumer: number, perTensor = false): string => {
    const output = `${weight}_dequantized_${consumer}`;
    if (perTensor) foldParams(weight);
    const inputs = perTensor ? [`${weight}_quantized`, `${weight}_matmul_scale`, `${weight}_matmul_zero_point`] : [`${weight}_quantized`, `${weight}_scale`, `${weight}_zero_point`];
    out.push(makeNode('DequantizeLinear', inputs, [output], `${output}_DQ`, perTensor ? {} : { axis: plan.weights.get(weight)!.axis }));
    return output;
  };

  const dequantizedName = (tensor: string) => `${tensor}_dequantized`;
  const emitQdq = (tensor: string) => {
    const p = paramsOf(tensor);
    out.push(
      makeNode('QuantizeLinear', [tensor, p.scaleName, p.zeroName], [`${tensor}_quantized`], `${tensor}_Q`),
      makeNode('DequantizeLinear', [`${tensor}_quantized`, p.scaleName, p.zeroName], [dequantizedName(tensor)], `${tensor}_DQ`),
    );
  };
  const readName = (tensor: string) => (plan.quantized.has(tensor) ? dequantizedName(tensor) : tensor);

  for (const input of graph.input) if (plan.quantized.has(input.name!)) emitQdq(input.name!);

  nodes.forEach((node, index) => {
    if (plan.removedRelus.has(index) || plan.absorbed.has(index)) return;
    const role = plan.roles.get(index);
    const outputs = [...node.output];
    const renamed = plan.renamedOutputs.get(index);
    if (renamed) outputs[0] = renamed;

    if (role?.kind === 'matmul-reduced') {
      // W̄[k, c] = mean of W[k, c·P … c·P+P−1], int8 per column
      const w = floatData(initializers.get(role.weight)!);
      const [k, n] = dimsOf(initializers.get(role.weight)!) as [number, number];
      const reduced = new Float32Array(k * role.groups);
      for (let row = 0; row < k; row++) {
        for (let c = 0; c < role.groups; c++) {
          let sum = 0;
          for (let p = 0; p < role.size; p++) sum += w[row * n + c * role.size + p]!;
          reduced[row * role.groups + c] = sum / role.size;
        }
      }
      const base = `${role.weight}_cam_reduced`;
      const q = quantizeWeights(reduced, [k, role.groups], 1);
      newInitializers.push(
        int8Tensor(`${base}_quantized`, [k, role.groups], q.values),
        floatTensor(`${base}_scale`, [role.groups], q.scales),
        int8Tensor(`${base}_zero_point`, [role.groups], new Int8Array(role.groups)),
      );
      const a = readName(node.input[0]!);
      const output = role.output;
      if (role.mode === 'float') {
        out.push(
          makeNode('DequantizeLinear', [`${base}_quantized`, `${base}_scale`, `${base}_zero_point`], [`${base}_dequantized`], `${base}_DQ`, { axis: 1 }),
          makeNode('MatMul', [a, `${base}_dequantized`], [output], node.name || `${output}_MatMul`),
        );
      } else {
        out.push(
          makeNode('DynamicQuantizeLinear', [a], [`${output}_a_quantized`, `${output}_a_scale`, `${output}_a_zero_point`], `${output}_DynamicQuantizeLinear`),
          makeNode('MatMulInteger', [`${output}_a_quantized`, `${base}_quantized`, `${output}_a_zero_point`, `${base}_zero_point`], [`${output}_int32`], `${output}_MatMulInteger`),
          makeNode('Cast', [`${output}_int32`], [`${output}_float`], `${output}_Cast`, { to: DataType.FLOAT }),
          makeNode('Mul', [`${output}_a_scale`, `${base}_scale`], [`${output}_output_scale`], `${output}_scale_Mul`),
          makeNode('Mul', [`${output}_float`, `${output}_output_scale`], [output], node.name || `${output}_Mul`),
        );
      }
      emitOutputs([output]);
      return;
    }

    if (role?.kind === 'matmul-folded') {
      const [a] = node.input as string[];
      const scaled = `${outputs[0]}_input_scaled`;
      foldParams(role.weight);
      out.push(makeNode('Mul', [readName(a!), `${role.weight}_row_scale`], [scaled], `${scaled}_Mul`));
      if (role.mode === 'float') {
        out.push(makeNode('MatMul', [scaled, weightDq(role.weight, index, true)], outputs, node.name || `${outputs[0]}_MatMul`));
      } else {
        const base = outputs[0]!;
        out.push(
          makeNode('DynamicQuantizeLinear', [scaled], [`${base}_a_quantized`, `${base}_a_scale`, `${base}_a_zero_point`], `${base}_DynamicQuantizeLinear`),
          makeNode('MatMulInteger', [`${base}_a_quantized`, `${role.weight}_quantized`, `${base}_a_zero_point`, `${role.weight}_matmul_zero_point`], [`${base}_int32`], `${base}_MatMulInteger`),
          makeNode('Cast', [`${base}_int32`], [`${base}_float`], `${base}_Cast`, { to: DataType.FLOAT }),
          makeNode('Mul', [`${base}_a_scale`, `${role.weight}_matmul_scale`], [`${base}_output_scale`], `${base}_scale_Mul`),
          makeNode('Mul', [`${base}_float`, `${base}_output_scale`], outputs, node.name || `${base}_Mul`),
        );
      }
      emitOutputs(outputs);
      return;
    }

    const inputs = (node.input as string[]).map((name, slot) => {
      if (!name) return name;
      if (role && slot === 1) return weightDq(role.weight, index);
      if (role && slot === 2 && (role.kind === 'conv' || role.kind === 'gemm') && role.bias) return biasDq(role.bias, role.weight, role.input, index);
      if (replaced.has(name)) return weightDq(name, index);
      return readName(name);
    });
    out.push({ ...node, input: inputs, output: outputs });
    emitOutputs(outputs);
  });

  function emitOutputs(outputs: string[]) {
    for (const output of outputs) if (plan.quantized.has(output)) emitQdq(output);
  }

  function biasDq(bias: string, weight: string, input: string, consumer: number): string {
    const values = floatData(initializers.get(bias)!);
    const inputScale = paramsOf(input).scale;
    const weightScales = weightData.get(weight)!.scales;
    const scales = new Float32Array(values.length);
    const q = new Int32Array(values.length);
    let clamped = false;
    for (let c = 0; c < values.length; c++) {
      scales[c] = Math.fround(inputScale * weightScales[c]!);
      const v = Math.round(values[c]! / scales[c]!);
      if (v > 2147483647 || v < -2147483647) clamped = true;
      q[c] = Math.max(-2147483647, Math.min(2147483647, v));
    }
    if (clamped) clampedBiases.push(bias);
    const name = `${bias}_quantized_${consumer}`;
    newInitializers.push(int32Tensor(name, [values.length], q), floatTensor(`${name}_scale`, [values.length], scales), int32Tensor(`${name}_zero_point`, [values.length], new Int32Array(values.length)));
    const output = `${bias}_dequantized_${consumer}`;
    out.push(makeNode('DequantizeLinear', [name, `${name}_scale`, `${name}_zero_point`], [output], `${output}_DQ`, { axis: 0 }));
    replaced.add(bias);
    return output;
  }

  // Constant nodes left without readers (a Reshape shape absorbed into a reduced MatMul)
  for (let changed = true; changed; ) {
    const read = new Set([...out.flatMap((n) => n.input ?? []), ...graphOutputs]);
    const before = out.length;
    out.splice(0, out.length, ...out.filter((n) => n.opType !== 'Constant' || n.output.some((o) => read.has(o))));
    changed = out.length !== before;
  }
  const stillUsed = new Set(out.flatMap((n) => n.input ?? []));
  const kept = graph.initializer.filter((t) => stillUsed.has(t.name!));
  const opset = Math.max(13, defaultOpset(source));
  const model: onnx.IModelProto = {
    ...source,
    producerName: 'cspine-edge model quantize',
    opsetImport: (source.opsetImport ?? []).map((o) => (!o.domain || o.domain === 'ai.onnx' ? { ...o, version: opset } : o)),
    metadataProps: [...(source.metadataProps ?? []).filter((p) => p.key !== METADATA_KEY), { key: METADATA_KEY, value: JSON.stringify({ activationType, ...options.metadata }) }],
    graph: { ...graph, node: out, initializer: [...kept, ...newInitializers], valueInfo: [] },
  };
  return { model, clampedBiases, activations };
}

/** Bytes of weights as stored (int8 + scales for quantized ones, float for the rest). */
export function weightBytes(model: onnx.IModelProto): number {
  return (model.graph?.initializer ?? []).reduce((sum, t) => sum + (t.rawData?.length ?? 0) + (t.floatData?.length ?? 0) * 4, 0);
}

export { dimsOf };
