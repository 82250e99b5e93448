/**
 * The fp32 variant, rebuilt from the shipped int8 file (`model dequantize`): every int8 weight
 * becomes float (q × scale), every activation QuantizeLinear/DequantizeLinear pair goes (a pair
 * whose zero point is the type's minimum was a folded ReLU and becomes a Relu again), and the
 * CAM's dynamic int8 MatMuls become float MatMuls on the same weights. The result runs on ONNX
 * Runtime's float kernels (faster than int8 on a CPU without dot-product instructions, such as
 * the Raspberry Pi 4's Cortex-A72) and answers like the int8 weights with float activations.
 * Deterministic: the same int8 file always gives the same bytes (the manifest holds their sha256).
 */
import type { onnx } from 'onnx-proto';
import { DataType, dimsOf, floatTensor, makeNode, num, type ModelProto, type NodeProto, type TensorProto } from '../../model/onnx-io.js';
import { METADATA_KEY } from './qdq.js';

const PASS_THROUGH = new Set(['MaxPool', 'AveragePool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Relu']);

function integerValues(tensor: TensorProto): number[] {
  const raw = tensor.rawData;
  if (raw && raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    switch (tensor.dataType) {
      case DataType.INT8:
        return Array.from({ length: raw.length }, (_, i) => view.getInt8(i));
      case DataType.UINT8:
        return Array.from({ length: raw.length }, (_, i) => view.getUint8(i));
      case DataType.INT32:
        return Array.from({ length: raw.length / 4 }, (_, i) => view.getInt32(i * 4, true));
      case DataType.FLOAT:
        return Array.from({ length: raw.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
      default:
        throw new Error(`cannot read ${tensor.name} (type ${tensor.dataType})`);
    }
  }
  if (tensor.dataType === DataType.FLOAT) return [...(tensor.floatData ?? [])];
  return (tensor.int32Data ?? []).map((v) => (tensor.dataType === DataType.INT8 ? (v << 24) >> 24 : v));
}

/** x, scale and zero point of a DequantizeLinear over initializers → float values. */
function dequantizeValues(x: TensorProto, scale: TensorProto, zeroPoint: TensorProto | undefined, axis: number): Float32Array {
  const raw = x.rawData!;
  const dims = dimsOf(x);
  const scales = integerValues(scale);
  const zeros = zeroPoint ? integerValues(zeroPoint) : [0];
  const channels = scales.length;
  const normalisedAxis = axis < 0 ? axis + dims.length : axis;
  const inner = channels === 1 ? 1 : dims.slice(normalisedAxis + 1).reduce((a, b) => a * b, 1);
  const values = x.dataType === DataType.INT8 ? new Int8Array(raw.buffer, raw.byteOffset, raw.length) : x.dataType === DataType.UINT8 ? raw : null;
  const count = dims.reduce((a, b) => a * b, 1);
  const ints = values ?? integerValues(x);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    out[i] = (ints[i]! - (zeros[c] ?? zeros[0]!)) * scales[c]!;
  }
  return out;
}

export function isQuantizedByUs(model: onnx.IModelProto): boolean {
  return (model.metadataProps ?? []).some((p) => p.key === METADATA_KEY);
}

export function dequantizeModel(model: ModelProto): onnx.IModelProto {
  const graph = model.graph;
  const initializers = new Map(graph.initializer.map((t) => [t.name!, t]));
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const node of graph.node) {
    for (const output of node.output) producer.set(output, node);
    for (const input of node.input) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  }
  const rename = new Map<string, string>();
  const graphOutputs = new Set(graph.output.map((output) => output.name));
  const resolve = (name: string): string => {
    let current = name;
    for (let guard = 0; rename.has(current) && guard < 10_000; guard++) current = rename.get(current)!;
    return current;
  };
  const skip = new Set<NodeProto>();
  const floats = new Map<string, TensorProto>();
  const out: NodeProto[] = [];
  // name of the float tensor for a weight DequantizeLinear: the original weight's name when we wrote it
  const floatName = (dq: NodeProto) => {
    const [x, scale] = dq.input as [string, string];
    if (x.endsWith('_quantized') && scale === `${x.slice(0, -'_quantized'.length)}_scale`) return x.slice(0, -'_quantized'.length);
    return dq.output[0]!;
  };

  // the CAM fold's Mul(A, row_scale) goes with the int8 MatMul it feeds
  for (const node of graph.node) if (node.opType === 'Mul' && node.input.some((i) => i.endsWith('_row_scale'))) skip.add(node);
  const unfold = (scaled: string) => producer.get(scaled)!.input.find((i) => !i.endsWith('_row_scale'))!;

  for (const node of graph.node) {
    if (skip.has(node)) continue;
    if (node.opType === 'DequantizeLinear' && initializers.has(node.input[0]!)) {
      const name = floatName(node);
      if (!floats.has(name)) {
        const [x, scale, zero] = node.input.map((n) => initializers.get(n)) as [TensorProto, TensorProto, TensorProto | undefined];
        const axisAttr = node.attribute?.find((a) => a.name === 'axis');
        floats.set(name, floatTensor(name, dimsOf(x), dequantizeValues(x, scale, zero, axisAttr ? num(axisAttr.i) : 1)));
      }
      rename.set(node.output[0]!, name);
      continue;
    }
    if (node.opType === 'QuantizeLinear') {
      const dqs = consumers.get(node.output[0]!) ?? [];
      if (dqs.length === 0 || !dqs.every((n) => n.opType === 'DequantizeLinear')) throw new Error(`QuantizeLinear ${node.name} is not followed by DequantizeLinear only`);
      const zero = initializers.get(node.input[2] ?? '');
      const zeroValue = zero ? integerValues(zero)[0]! : 0;
      const typeMin = zero?.dataType === DataType.INT8 ? -128 : 0;
      const source = resolve(node.input[0]!);
      const from = producer.get(node.input[0]!);
      const relu = zeroValue === typeMin && !(from && PASS_THROUGH.has(from.opType));
      for (const dq of dqs) {
        skip.add(dq);
        if (relu) {
          out.push(makeNode('Relu', [source], [dq.output[0]!], `${dq.output[0]}_Relu`));
        } else if (graphOutputs.has(dq.output[0]!)) {
          // A graph output (the OOD detector's `features`) keeps its name.
          out.push(makeNode('Identity', [source], [dq.output[0]!], `${dq.output[0]}_Identity`));
        } else rename.set(dq.output[0]!, source);
      }
      continue;
    }
    if (node.opType === 'DynamicQuantizeLinear') {
      // Mul(A, row_scale) → DynamicQuantizeLinear → MatMulInteger(·, W_quantized) → Cast → Mul(·, Mul(a_scale, c))  ⇒  MatMul(A, W)
      const matmul = (consumers.get(node.output[0]!) ?? []).find((n) => n.opType === 'MatMulInteger')!;
      const cast = (consumers.get(matmul.output[0]!) ?? [])[0]!;
      const finalMul = (consumers.get(cast.output[0]!) ?? [])[0]!;
      const scaleMul = producer.get(finalMul.input.find((i) => i !== cast.output[0])!)!;
      const weight = matmul.input[1]!.replace(/_quantized$/, '');
      const folded = producer.get(node.input[0]!)?.input.some((i) => i.endsWith('_row_scale')) ?? false;
      if (folded) ensureWeight(weight);
      else if (!floats.has(weight)) {
        // a weight of its own, per column (the CAM's reduced weight)
        const x = initializers.get(matmul.input[1]!)!;
        floats.set(weight, floatTensor(weight, dimsOf(x), dequantizeValues(x, initializers.get(`${weight}_scale`)!, initializers.get(matmul.input[3] ?? ''), 1)));
      }
      for (const n of [matmul, cast, finalMul, scaleMul]) skip.add(n);
      out.push(makeNode('MatMul', [resolve(folded ? unfold(node.input[0]!) : node.input[0]!), weight], [finalMul.output[0]!], finalMul.name ?? `${weight}_MatMul`));
      continue;
    }
    if (node.opType === 'MatMul' && producer.get(node.input[0]!)?.input.some((i) => i.endsWith('_row_scale'))) {
      // the float-CAM form: Mul(A, row_scale) → MatMul(·, DQ(W_quantized, c))  ⇒  MatMul(A, W)
      const weight = producer.get(node.input[0]!)!.input.find((i) => i.endsWith('_row_scale'))!.replace(/_row_scale$/, '');
      ensureWeight(weight);
      out.push({ ...node, input: [resolve(unfold(node.input[0]!)), weight] });
      continue;
    }
    out.push({ ...node, input: node.input.map((i) => (i ? resolve(i) : i)) });
  }

  function ensureWeight(weight: string) {
    if (floats.has(weight)) return;
    const x = initializers.get(`${weight}_quantized`)!;
    floats.set(weight, floatTensor(weight, dimsOf(x), dequantizeValues(x, initializers.get(`${weight}_scale`)!, initializers.get(`${weight}_zero_point`), 0)));
  }

  // inputs renamed after their producer was emitted
  const finalNodes = out.map((node) => ({ ...node, input: node.input.map((i) => (i ? resolve(i) : i)) }));
  const used = new Set(finalNodes.flatMap((n) => n.input));
  const kept = graph.initializer.filter((t) => used.has(t.name!) && t.dataType !== DataType.INT8 && !(t.dataType === DataType.INT32 && t.name!.includes('_quantized')));
  return {
    ...model,
    producerName: 'cspine-edge model dequantize',
    metadataProps: (model.metadataProps ?? []).filter((p) => p.key !== METADATA_KEY).concat([{ key: 'cspine.dequantized', value: 'float weights = int8 × scale; activations in float' }]),
    graph: { ...graph, node: finalNodes, initializer: [...kept, ...[...floats.values()].filter((t) => used.has(t.name!))], valueInfo: [] },
  };
}
