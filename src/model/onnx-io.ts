/**
 * Reading and writing ONNX models with the ONNX protobuf definitions from npm (onnx-proto,
 * protobufjs): no Python. Tensor payloads stay as views into the file's bytes, so a 230 MB
 * model is held once.
 */
import { writeFileAtomicSync } from '../atomic-file.js';
import fs from 'node:fs';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { ErrorCode, ModelError } from '../errors.js';

export const proto = onnxProto.onnx;
export type TensorProto = onnx.ITensorProto;
export type ValueInfo = onnx.IValueInfoProto;
/** A node as decoded (repeated fields are always arrays) or as we build it. */
export interface NodeProto extends onnx.INodeProto {
  opType: string;
  input: string[];
  output: string[];
}
export interface GraphProto extends onnx.IGraphProto {
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfo[];
  output: ValueInfo[];
}
export interface ModelProto extends onnx.IModelProto {
  graph: GraphProto;
}

export const DataType = proto.TensorProto.DataType;
const AttributeType = proto.AttributeProto.AttributeType;

/** protobufjs gives 64-bit fields as Long objects (or numbers); ONNX dims always fit a double. */
export const num = (value: number | { toNumber(): number } | null | undefined): number =>
  value === null || value === undefined ? 0 : typeof value === 'number' ? value : value.toNumber();

/** Reads and decodes an ONNX file; a truncated, corrupt or non-ONNX file is E_MODEL_ONNX_INVALID. */
export function readOnnx(file: string): ModelProto {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new ModelError(ErrorCode.MODEL_FILE_MISSING, `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
  return decodeOnnx(bytes, file);
}

export function decodeOnnx(bytes: Uint8Array, name = 'model'): ModelProto {
  const invalid = (why: string, cause?: unknown) =>
    new ModelError(ErrorCode.MODEL_ONNX_INVALID, `${name} is not a usable ONNX model: ${why}`, cause === undefined ? { details: { why } } : { cause, details: { why } });
  if (bytes.length === 0) throw invalid('the file is empty (0 bytes)');
  let model: ModelProto;
  try {
    model = proto.ModelProto.decode(bytes) as unknown as ModelProto;
  } catch (error) {
    const message = (error as Error).message;
    throw invalid(/index out of range|premature|offset/i.test(message) ? `truncated or corrupt protobuf (${message}); was the copy cut short?` : `corrupt protobuf (${message})`, error);
  }
  const graph = model.graph;
  if (!graph || graph.node.length === 0) throw invalid('no graph, or a graph without nodes');
  if (num(model.irVersion) < 3) throw invalid(`IR version ${num(model.irVersion)} is too old or missing`);
  if (graph.input.length === 0 || graph.output.length === 0) throw invalid('the graph has no inputs or no outputs');
  const known = new Set<string>([...graph.input.map((i) => i.name ?? ''), ...graph.initializer.map((i) => i.name ?? ''), '']);
  for (const node of graph.node) for (const output of node.output) known.add(output);
  for (const node of graph.node) {
    for (const input of node.input) if (!known.has(input)) throw invalid(`node ${node.name || node.opType} reads "${input}", which nothing produces`);
  }
  for (const tensor of graph.initializer) {
    if (tensor.dataLocation === proto.TensorProto.DataLocation.EXTERNAL) throw invalid(`initializer ${tensor.name} keeps its data in an external file; save the model with all weights inside`);
    const expected = (tensor.dims ?? []).reduce((a: number, b) => a * num(b), 1) * bytesPerElement(tensor.dataType);
    if (tensor.rawData && tensor.rawData.length > 0 && bytesPerElement(tensor.dataType) > 0 && tensor.rawData.length !== expected) {
      throw invalid(`initializer ${tensor.name} holds ${tensor.rawData.length} bytes where its shape needs ${expected} (truncated?)`);
    }
  }
  return model;
}

export function encodeOnnx(model: onnx.IModelProto): Uint8Array {
  return proto.ModelProto.encode(model).finish();
}

export function writeOnnx(file: string, model: onnx.IModelProto): number {
  const bytes = encodeOnnx(model);
  writeFileAtomicSync(file, bytes);
  return bytes.length;
}

function bytesPerElement(dataType: number | null | undefined): number {
  switch (dataType) {
    case DataType.FLOAT:
    case DataType.INT32:
    case DataType.UINT32:
      return 4;
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.BOOL:
      return 1;
    case DataType.INT64:
    case DataType.DOUBLE:
    case DataType.UINT64:
      return 8;
    case DataType.FLOAT16:
    case DataType.INT16:
    case DataType.UINT16:
    case DataType.BFLOAT16:
      return 2;
    default:
      return 0;
  }
}

export function dimsOf(tensor: TensorProto): number[] {
  return (tensor.dims ?? []).map((d) => num(d));
}

/** A float32 initializer's values (copied out of raw_data, which may be unaligned). */
export function floatData(tensor: TensorProto): Float32Array {
  if (tensor.dataType !== DataType.FLOAT) throw new Error(`${tensor.name} is not float32`);
  if (tensor.rawData && tensor.rawData.length > 0) {
    const raw = tensor.rawData;
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    return new Float32Array(copy.buffer);
  }
  return Float32Array.from(tensor.floatData ?? []);
}

export function int64Data(tensor: TensorProto): number[] {
  if (tensor.rawData && tensor.rawData.length > 0) {
    const view = new DataView(tensor.rawData.buffer, tensor.rawData.byteOffset, tensor.rawData.byteLength);
    return Array.from({ length: tensor.rawData.length / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
  }
  return (tensor.int64Data ?? []).map((v) => num(v));
}

const bytesOf = (array: ArrayBufferView) => new Uint8Array(array.buffer, array.byteOffset, array.byteLength);

export function floatTensor(name: string, dims: number[], values: Float32Array | number[]): TensorProto {
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  return { name, dims, dataType: DataType.FLOAT, rawData: bytesOf(data) };
}

export function int8Tensor(name: string, dims: number[], values: Int8Array): TensorProto {
  return { name, dims, dataType: DataType.INT8, rawData: bytesOf(values) };
}

export function uint8Tensor(name: string, dims: number[], values: Uint8Array): TensorProto {
  return { name, dims, dataType: DataType.UINT8, rawData: bytesOf(values) };
}

export function int32Tensor(name: string, dims: number[], values: Int32Array): TensorProto {
  return { name, dims, dataType: DataType.INT32, rawData: bytesOf(values) };
}

export function attribute(node: NodeProto, name: string): onnx.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

export function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? num(a.i) : fallback;
}

export function floatAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? (a.f ?? fallback) : fallback;
}

export type AttributeValue = number | number[] | { float: number };

export function makeNode(opType: string, inputs: string[], outputs: string[], name: string, attributes: Record<string, AttributeValue> = {}, domain = ''): NodeProto {
  return {
    opType,
    domain,
    input: inputs,
    output: outputs,
    name,
    attribute: Object.entries(attributes).map(([key, value]) => {
      if (Array.isArray(value)) return { name: key, type: AttributeType.INTS, ints: value };
      if (typeof value === 'object') return { name: key, type: AttributeType.FLOAT, f: value.float };
      return { name: key, type: AttributeType.INT, i: value };
    }),
  };
}

/** The opset of the default ONNX domain. */
export function defaultOpset(model: onnx.IModelProto): number {
  const entry = model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? num(entry.version) : 0;
}

/** Op types and how often each occurs (e.g. in ORT's optimized model). */
export function countOps(model: onnx.IModelProto): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of model.graph?.node ?? []) counts[node.opType!] = (counts[node.opType!] ?? 0) + 1;
  return counts;
}

/**
 * Identity nodes over initializers bypassed (the PyTorch exporter writes one when two parameters
 * hold identical values, e.g. two all-zero biases), so every weight is an initializer its
 * readers name directly.
 */
export function bypassConstantIdentities(model: ModelProto): ModelProto {
  const graph = model.graph;
  const initializers = new Set(graph.initializer.map((t) => t.name!));
  const outputs = new Set(graph.output.map((o) => o.name!));
  const alias = new Map<string, string>();
  for (const node of graph.node) {
    if (node.opType === 'Identity' && initializers.has(node.input[0]!) && !outputs.has(node.output[0]!)) alias.set(node.output[0]!, node.input[0]!);
  }
  if (alias.size === 0) return model;
  const node = graph.node
    .filter((n) => !(n.opType === 'Identity' && alias.has(n.output[0]!)))
    .map((n) => ({ ...n, input: n.input.map((i) => alias.get(i) ?? i) }));
  return { ...model, graph: { ...graph, node } } as ModelProto;
}

/**
 * Pooling that changes nothing (kernel 1×1, stride 1, no padding: PyTorch's AdaptiveAvgPool2d
 * exported on a map already at its output size) bypassed, so no int8 kernel runs for it.
 */
export function bypassIdentityPools(model: ModelProto): ModelProto {
  const graph = model.graph;
  const outputs = new Set(graph.output.map((o) => o.name!));
  const alias = new Map<string, string>();
  const ints = (node: NodeProto, name: string) => (attribute(node, name)?.ints ?? []).map((v) => num(v));
  for (const node of graph.node) {
    if ((node.opType !== 'AveragePool' && node.opType !== 'MaxPool') || node.output.length !== 1 || outputs.has(node.output[0]!)) continue;
    const kernel = ints(node, 'kernel_shape');
    const strides = ints(node, 'strides');
    const pads = ints(node, 'pads');
    const autoPad = attribute(node, 'auto_pad')?.s;
    if (kernel.length > 0 && kernel.every((k) => k === 1) && strides.every((v) => v === 1) && pads.every((v) => v === 0) && (!autoPad || new TextDecoder().decode(autoPad) === 'NOTSET')) {
      alias.set(node.output[0]!, node.input[0]!);
    }
  }
  if (alias.size === 0) return model;
  const resolve = (name: string) => {
    let current = name;
    while (alias.has(current)) current = alias.get(current)!;
    return current;
  };
  const node = graph.node.filter((n) => !alias.has(n.output[0] ?? '')).map((n) => ({ ...n, input: n.input.map((i) => (i ? resolve(i) : i)) }));
  return { ...model, graph: { ...graph, node } } as ModelProto;
}
