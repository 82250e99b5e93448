/**
 * Small real ONNX models, written with the ONNX protobuf definitions, for tests and benchmarks
 * to run through real ONNX Runtime sessions (there is no trained model in the repo yet).
 */
import fs from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { sha256Hex } from '../../src/hash.js';
import type { ModelManifest } from '../../src/model/manifest.js';

const proto = onnxProto.onnx;
const FLOAT = proto.TensorProto.DataType.FLOAT;

type Attribute = number | number[] | { float: number };

function node(opType: string, inputs: string[], outputs: string[], attributes: Record<string, Attribute> = {}): onnx.INodeProto {
  return {
    opType,
    input: inputs,
    output: outputs,
    name: outputs[0],
    attribute: Object.entries(attributes).map(([name, value]) => {
      if (Array.isArray(value)) return { name, type: proto.AttributeProto.AttributeType.INTS, ints: value };
      if (typeof value === 'object') return { name, type: proto.AttributeProto.AttributeType.FLOAT, f: value.float };
      return { name, type: proto.AttributeProto.AttributeType.INT, i: value };
    }),
  };
}

function initializer(name: string, dims: number[], values: Float32Array): onnx.ITensorProto {
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

function valueInfo(name: string, dims: number[]): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((dimValue) => ({ dimValue })) } } } };
}

function encodeModel(graph: onnx.IGraphProto): Uint8Array {
  return proto.ModelProto.encode({
    irVersion: 8,
    producerName: 'cspine-edge-tests',
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  }).finish();
}

/**
 * Classifies by mean brightness m (samples scaled to 0..1, mean 0, std 1):
 * logits = [30m − 18, 0, 9 − 30m] for [normal, fracture, dislocation], so
 * bright (m ≳ 0.8) → normal, mid grey (m ≈ 0.45) → fracture, dark (m ≲ 0.15) → dislocation,
 * m ≈ 0.6 → normal and fracture tied (low confidence).
 */
export function brightnessModel(size = 16, channels = 3, options: { cam?: boolean } = {}): Uint8Array {
  const slopes = [30, 0, -30];
  const weights = new Float32Array(channels * 3);
  for (let c = 0; c < channels; c++) for (let k = 0; k < 3; k++) weights[c * 3 + k] = slopes[k]! / channels;
  // With `cam`, a second output: the input's brightness map ([1, 1, size, size]), so a test
  // knows exactly where the "activation" is.
  return encodeModel({
    name: 'brightness',
    node: [
      node('GlobalAveragePool', ['input'], ['pooled']),
      node('Flatten', ['pooled'], ['features'], { axis: 1 }),
      node('Gemm', ['features', 'weights', 'bias'], ['logits']),
      ...(options.cam ? [node('ReduceMean', ['input'], ['cam'], { axes: [1], keepdims: 1 })] : []),
    ],
    initializer: [initializer('weights', [channels, 3], weights), initializer('bias', [3], Float32Array.from([-18, 0, 9]))],
    input: [valueInfo('input', [1, channels, size, size])],
    output: [valueInfo('logits', [1, 3]), ...(options.cam ? [valueInfo('cam', [1, 1, size, size])] : [])],
  });
}

/** Deterministic uniform weights in ±sqrt(6 / fanIn) (He), so activations stay finite. */
function heWeights(count: number, fanIn: number, seed: number): Float32Array {
  const values = new Float32Array(count);
  const bound = Math.sqrt(6 / fanIn);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    values[i] = ((state >>> 0) / 4294967296 * 2 - 1) * bound;
  }
  return values;
}

/**
 * torchvision's AlexNet (features + classifier, 3-class head) at 224×224 with random
 * weights: the real architecture and cost, for benchmarks; its answers mean nothing.
 */
export function alexnetModel(seed = 1): Uint8Array {
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  let current = 'input';
  let inChannels = 3;
  let layer = 0;
  const conv = (out: number, kernel: number, stride: number, pad: number) => {
    const name = `conv${++layer}`;
    inits.push(initializer(`${name}.w`, [out, inChannels, kernel, kernel], heWeights(out * inChannels * kernel * kernel, inChannels * kernel * kernel, seed + layer)));
    inits.push(initializer(`${name}.b`, [out], new Float32Array(out)));
    nodes.push(node('Conv', [current, `${name}.w`, `${name}.b`], [name], { kernel_shape: [kernel, kernel], strides: [stride, stride], pads: [pad, pad, pad, pad] }));
    nodes.push(node('Relu', [name], [`${name}.relu`]));
    current = `${name}.relu`;
    inChannels = out;
  };
  const pool = () => {
    nodes.push(node('MaxPool', [current], [`${current}.pool`], { kernel_shape: [3, 3], strides: [2, 2] }));
    current = `${current}.pool`;
  };
  const dense = (inputs: number, out: number, relu: boolean, output?: string) => {
    const name = `fc${++layer}`;
    inits.push(initializer(`${name}.w`, [out, inputs], heWeights(out * inputs, inputs, seed + layer)));
    inits.push(initializer(`${name}.b`, [out], new Float32Array(out)));
    const gemmOut = relu ? name : (output ?? name);
    nodes.push(node('Gemm', [current, `${name}.w`, `${name}.b`], [gemmOut], { transB: 1 }));
    current = gemmOut;
    if (relu) {
      nodes.push(node('Relu', [name], [`${name}.relu`]));
      current = `${name}.relu`;
    }
  };
  conv(64, 11, 4, 2);
  pool();
  conv(192, 5, 1, 2);
  pool();
  conv(384, 3, 1, 1);
  conv(256, 3, 1, 1);
  conv(256, 3, 1, 1);
  pool();
  nodes.push(node('Flatten', [current], ['flat'], { axis: 1 }));
  current = 'flat';
  dense(256 * 6 * 6, 4096, true);
  dense(4096, 4096, true);
  dense(4096, 3, false, 'logits');
  return encodeModel({ name: 'alexnet', node: nodes, initializer: inits, input: [valueInfo('input', [1, 3, 224, 224])], output: [valueInfo('logits', [1, 3])] });
}

export interface PackageOptions {
  id: string;
  onnx: Uint8Array;
  size: number;
  overrides?: Partial<ModelManifest>;
}

/** Writes models/<id>/ with model.onnx and a manifest carrying its real SHA-256. */
export function writeModelPackage(modelsDir: string, options: PackageOptions): string {
  const dir = path.join(modelsDir, options.id);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'model.onnx'), options.onnx);
  const manifest = {
    schemaVersion: 1,
    id: options.id,
    description: 'generated by the test helpers',
    file: 'model.onnx',
    sha256: sha256Hex(Buffer.from(options.onnx)),
    labels: ['normal', 'fracture', 'dislocation'],
    input: { name: 'input', layout: 'NCHW', shape: [1, 3, options.size, options.size] },
    preprocess: { resize: 'stretch', mean: [0], std: [1] },
    outputs: { logits: 'logits' },
    calibration: { temperature: 1 },
    ...options.overrides,
  };
  fs.writeFileSync(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return dir;
}

/**
 * A small CNN with AlexNet's structure in miniature, random weights: Conv-Relu-MaxPool ×2,
 * Flatten, Gemm-Relu, Gemm → logits [1,3]; with `cam`, the exporter's in-graph Grad-CAM on the
 * second conv block (masks on the first Gemm's pre-activation, MatMuls against the classifier
 * weights, as scripts/train/models.py builds it) → cam [1,16,16].
 */
export function smallCnnModel(options: { cam?: boolean; seed?: number } = {}): Uint8Array {
  const seed = options.seed ?? 3;
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  const weights = (name: string, dims: number[], fanIn: number, k: number) => inits.push(initializer(name, dims, heWeights(dims.reduce((a, b) => a * b, 1), fanIn, seed + k)));
  const bias = (name: string, n: number, k: number) => inits.push(initializer(name, [n], heWeights(n, 40, seed + 100 + k)));
  const int64 = (name: string, values: number[]) =>
    inits.push({ name, dims: [values.length], dataType: proto.TensorProto.DataType.INT64, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
  weights('c1.w', [8, 3, 3, 3], 27, 1);
  bias('c1.b', 8, 1);
  weights('c2.w', [16, 8, 3, 3], 72, 2);
  bias('c2.b', 16, 2);
  weights('fc1.w', [64, 1024], 1024, 3);
  bias('fc1.b', 64, 3);
  weights('fc2.w', [3, 64], 64, 4);
  bias('fc2.b', 3, 4);
  const conv = { kernel_shape: [3, 3], pads: [1, 1, 1, 1] };
  const pool = { kernel_shape: [2, 2], strides: [2, 2] };
  nodes.push(
    node('Conv', ['input', 'c1.w', 'c1.b'], ['c1'], conv),
    node('Relu', ['c1'], ['r1']),
    node('MaxPool', ['r1'], ['p1'], pool),
    node('Conv', ['p1', 'c2.w', 'c2.b'], ['c2'], conv),
    node('Relu', ['c2'], ['r2']),
    node('MaxPool', ['r2'], ['p2'], pool),
    node('Flatten', ['p2'], ['flat'], { axis: 1 }),
    node('Gemm', ['flat', 'fc1.w', 'fc1.b'], ['z1'], { transB: 1 }),
    node('Relu', ['z1'], ['h1']),
    node('Gemm', ['h1', 'fc2.w', 'fc2.b'], ['logits'], { transB: 1 }),
  );
  if (options.cam) {
    inits.push(initializer('zero', [], Float32Array.of(0)));
    int64('cam.shape', [1, 16, 64]);
    int64('axes.last2', [2, 3]);
    int64('axes.channel', [1]);
    nodes.push(
      node('ArgMax', ['logits'], ['class'], { axis: 1, keepdims: 0 }),
      node('Gather', ['fc2.w', 'class'], ['w3c'], { axis: 0 }),
      node('Greater', ['z1', 'zero'], ['m1']),
      node('Cast', ['m1'], ['m1f'], { to: FLOAT }),
      node('Mul', ['m1f', 'w3c'], ['g1']),
      node('MatMul', ['g1', 'fc1.w'], ['grad']),
      node('Reshape', ['grad', 'cam.shape'], ['grad3']),
      node('ReduceMean', ['grad3'], ['alpha'], { axes: [2], keepdims: 0 }),
      node('Unsqueeze', ['alpha', 'axes.last2'], ['alpha4']),
      node('Mul', ['alpha4', 'r2'], ['weighted']),
      node('ReduceSum', ['weighted', 'axes.channel'], ['camsum'], { keepdims: 0 }),
      node('Relu', ['camsum'], ['cam']),
    );
  }
  return encodeModel({
    name: 'small-cnn',
    node: nodes,
    initializer: inits,
    input: [valueInfo('input', [1, 3, 32, 32])],
    output: [valueInfo('logits', [1, 3]), ...(options.cam ? [valueInfo('cam', [1, 16, 16])] : [])],
  });
}
