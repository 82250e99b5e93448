import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { DataType, encodeOnnx, floatTensor, makeNode, decodeOnnx, type TensorProto } from '../../../src/model/onnx-io.js';
import { listImages, optimizedOps, quantizeModel } from '../../../src/tools/quantize/quantize.js';
import { tempDir } from '../../helpers/fixtures.js';

/** Deterministic weights in ±sqrt(6 / fanIn), so activations stay finite through the blocks. */
function weights(count: number, fanIn: number, seed: number): Float32Array {
  const values = new Float32Array(count);
  const bound = Math.sqrt(6 / fanIn);
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    values[i] = (state / 2147483648 * 2 - 1) * bound;
  }
  return values;
}

function int64Tensor(name: string, values: number[]): TensorProto {
  return { name, dims: [values.length], dataType: DataType.INT64, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) } as TensorProto;
}

/**
 * GoogLeNet in miniature, as scripts/train/export.py writes it: a stem convolution, a ceil-mode
 * MaxPool, two inception blocks (1×1, 1×1→3×3, and a stride-1 padded ceil-mode MaxPool→1×1
 * branch, joined by Concat), GlobalAveragePool → Flatten → Gemm logits, and the in-graph CAM of
 * the argmax class (GoogLeNetWithCam: fc row / (h·w) times the last block, summed, ReLU, max-normalised).
 */
function googlenetShapedModel(): Uint8Array {
  const nodes = [];
  const inits: TensorProto[] = [];
  let seed = 7;
  const conv = (input: string, name: string, inChannels: number, out: number, kernel: number) => {
    const fanIn = inChannels * kernel * kernel;
    inits.push(floatTensor(`${name}.w`, [out, inChannels, kernel, kernel], weights(out * fanIn, fanIn, seed++)), floatTensor(`${name}.b`, [out], weights(out, 40, seed++)));
    const pad = (kernel - 1) / 2;
    nodes.push(makeNode('Conv', [input, `${name}.w`, `${name}.b`], [name], name, { kernel_shape: [kernel, kernel], pads: [pad, pad, pad, pad] }), makeNode('Relu', [name], [`${name}.relu`], `${name}_relu`));
    return `${name}.relu`;
  };
  const inception = (input: string, name: string, inChannels: number) => {
    const b1 = conv(input, `${name}.b1`, inChannels, 4, 1);
    const b2 = conv(conv(input, `${name}.b2a`, inChannels, 4, 1), `${name}.b2b`, 4, 6, 3);
    nodes.push(makeNode('MaxPool', [input], [`${name}.pool`], `${name}_pool`, { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], ceil_mode: 1 }));
    const b3 = conv(`${name}.pool`, `${name}.b3`, inChannels, 4, 1);
    nodes.push(makeNode('Concat', [b1, b2, b3], [`${name}.out`], `${name}_concat`, { axis: 1 }));
    return `${name}.out`;
  };
  const stem = conv('input', 'stem', 3, 8, 3);
  // 32 → 16 with ceil_mode (15 without): torchvision's maxpool1..4
  nodes.push(makeNode('MaxPool', [stem], ['stem.pool'], 'stem_pool', { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }));
  const last = inception(inception('stem.pool', 'i3a', 8), 'i3b', 14);
  inits.push(floatTensor('fc.w', [3, 14], weights(42, 14, seed++)), floatTensor('fc.b', [3], [0.1, -0.1, 0]));
  inits.push(floatTensor('cells', [], [256]), int64Tensor('axes.hw', [2, 3]), int64Tensor('axes.c', [1]), floatTensor('one', [], [1]), floatTensor('zero', [], [0]));
  nodes.push(
    makeNode('GlobalAveragePool', [last], ['gap'], 'gap'),
    makeNode('Flatten', ['gap'], ['flat'], 'flatten', { axis: 1 }),
    makeNode('Gemm', ['flat', 'fc.w', 'fc.b'], ['logits'], 'fc', { transB: 1 }),
    makeNode('ArgMax', ['logits'], ['class'], 'argmax', { axis: 1, keepdims: 0 }),
    makeNode('Gather', ['fc.w', 'class'], ['row'], 'gather', { axis: 0 }),
    makeNode('Div', ['row', 'cells'], ['alpha'], 'alpha'),
    makeNode('Unsqueeze', ['alpha', 'axes.hw'], ['alpha4'], 'unsqueeze'),
    makeNode('Mul', ['alpha4', last], ['weighted'], 'weighted'),
    makeNode('ReduceSum', ['weighted', 'axes.c'], ['camsum'], 'camsum', { keepdims: 0 }),
    makeNode('Relu', ['camsum'], ['camrelu'], 'camrelu'),
    makeNode('ReduceMax', ['camrelu'], ['peak'], 'peak', { axes: [1, 2], keepdims: 1 }),
    makeNode('Greater', ['peak', 'zero'], ['positive'], 'positive'),
    makeNode('Where', ['positive', 'peak', 'one'], ['divisor'], 'divisor'),
    makeNode('Div', ['camrelu', 'divisor'], ['cam'], 'cam'),
  );
  const info = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((dimValue) => ({ dimValue })) } } } });
  return encodeOnnx({
    irVersion: 8,
    producerName: 'cspine-edge-tests',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'googlenet-shaped', node: nodes, initializer: inits, input: [info('input', [1, 3, 32, 32])], output: [info('logits', [1, 3]), info('cam', [1, 16, 16])] },
  });
}

async function textures(dir: string, count: number): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  for (let seed = 1; seed <= count; seed++) {
    const size = 40;
    const pixels = Buffer.alloc(size * size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const stripes = Math.sin((x * Math.cos(seed) + y * Math.sin(seed)) * (0.3 + (seed % 5) * 0.1));
        const blob = Math.exp(-((x - ((seed * 13) % size)) ** 2 + (y - ((seed * 29) % size)) ** 2) / 30);
        pixels[y * size + x] = Math.max(0, Math.min(255, Math.round(110 + 60 * stripes + 90 * blob)));
      }
    }
    fs.writeFileSync(path.join(dir, `img-${String(seed).padStart(3, '0')}.png`), await sharp(pixels, { raw: { width: size, height: size, channels: 1 } }).png().toBuffer());
  }
  return listImages(dir);
}

test('a GoogLeNet-shaped graph (Concat, ceil-mode MaxPool, GlobalAveragePool, CAM) quantizes to integer kernels and agrees with fp32', async (t) => {
  const images = await textures(path.join(tempDir(t), 'calibration'), 24);
  const result = await quantizeModel({
    source: decodeOnnx(googlenetShapedModel()),
    manifest: {
      input: { name: 'input', layout: 'NCHW', shape: [1, 3, 32, 32] },
      preprocess: { resize: 'stretch', mean: [0.5], std: [0.25] },
      outputs: { logits: 'logits', cam: 'cam' },
      calibration: { temperature: 1 },
    },
    calibrationImages: images,
    methods: ['minmax', 'percentile'],
    percentile: 99.999,
    agreementFloor: 0.9,
    threads: 1,
  });
  t.deepEqual(result.plan.float, [], 'every Conv and the Gemm are quantized');
  t.true(result.chosen.agreement >= 0.95, `top-1 agreement ${result.chosen.agreement}`);
  t.true(result.chosen.maxProbabilityDelta < 0.1, `max |Δp| ${result.chosen.maxProbabilityDelta}`);
  t.true(result.chosen.cam !== null && result.chosen.cam.meanMaxAbsDelta < 0.15, `CAM mean max |Δ| ${result.chosen.cam?.meanMaxAbsDelta}`);
  const ops = await optimizedOps(result.bytes);
  t.is(ops.QLinearConv, 9, JSON.stringify(ops));
  t.is(ops.QGemm, 1, JSON.stringify(ops));
  // the inner join runs on int8; the last one stays float, as in GoogLeNet: its output is read in
  // float by the CAM and the GlobalAveragePool (docs/quantization.md)
  t.is(ops.QLinearConcat, 1, JSON.stringify(ops));
  t.is(ops.Concat, 1, JSON.stringify(ops));
  t.is(ops.NhwcMaxPool, 3, `every MaxPool, ceil-mode ones too, runs on int8: ${JSON.stringify(ops)}`);
  t.falsy(ops.MaxPool, JSON.stringify(ops));
});
