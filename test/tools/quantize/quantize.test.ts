import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { ErrorCode } from '../../../src/errors.js';
import { sha256Hex } from '../../../src/hash.js';
import { sessionOptions } from '../../../src/model/inference.js';
import { loadModelPackage } from '../../../src/model/model-package.js';
import { decodeOnnx, readOnnx } from '../../../src/model/onnx-io.js';
import { entropyThresholdBins, rangeFor, TensorStats } from '../../../src/tools/quantize/calibrate.js';
import { fp32Bytes, rebuildFp32 } from '../../../src/tools/quantize/package.js';
import { activationParams, quantizeWeights } from '../../../src/tools/quantize/qdq.js';
import { listImages, optimizedOps, quantizeModel } from '../../../src/tools/quantize/quantize.js';
import { runCli } from '../../helpers/cli.js';
import { configEnv, tempDir, workspace } from '../../helpers/fixtures.js';
import { brightnessModel, smallCnnModel, writeModelPackage } from '../../../src/tools/fixtures/onnx-models.js';

/** A 40×40 radiograph-like texture: stripes at a seed-dependent angle plus a bright blob. */
async function texturedImage(seed: number, size = 40): Promise<Buffer> {
  const pixels = Buffer.alloc(size * size);
  const angle = seed * 0.7;
  const cx = (seed * 13) % size;
  const cy = (seed * 29) % size;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const stripes = Math.sin((x * Math.cos(angle) + y * Math.sin(angle)) * (0.3 + (seed % 5) * 0.1));
      const blob = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 30);
      pixels[y * size + x] = Math.max(0, Math.min(255, Math.round(110 + 60 * stripes + 90 * blob)));
    }
  }
  return sharp(pixels, { raw: { width: size, height: size, channels: 1 } }).png().toBuffer();
}

async function imageFolder(dir: string, count: number, first = 1): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++) fs.writeFileSync(path.join(dir, `img-${String(first + i).padStart(3, '0')}.png`), await texturedImage(first + i));
  return dir;
}

const SMALL_MANIFEST = {
  input: { name: 'input', layout: 'NCHW' as const, shape: [1, 3, 32, 32] as [1, number, number, number] },
  preprocess: { resize: 'stretch' as const, mean: [0.5], std: [0.25] },
  outputs: { logits: 'logits', cam: 'cam' },
  calibration: { temperature: 1 },
};

async function run(bytes: Uint8Array | string, input: Float32Array, names: string[]): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes as Uint8Array, sessionOptions(1));
  try {
    const result = await session.run({ input: new ort.Tensor('float32', input, [1, 3, 32, 32]) }, names);
    return Object.fromEntries(names.map((name) => [name, Float32Array.from(result[name]!.data as Float32Array)]));
  } finally {
    await session.release();
  }
}

test('quantizing a small CNN gives a QDQ graph ORT runs with integer kernels, within tolerance of fp32', async (t) => {
  const root = tempDir(t);
  const images = listImages(await imageFolder(path.join(root, 'calibration'), 24));
  const fp32 = smallCnnModel({ cam: true });
  const result = await quantizeModel({
    source: decodeOnnx(fp32),
    manifest: SMALL_MANIFEST,
    calibrationImages: images,
    methods: ['minmax', 'percentile', 'entropy'],
    percentile: 99.99,
    agreementFloor: 0.9,
    threads: 1,
  });
  t.deepEqual(result.candidates.map((c) => c.method), ['minmax', 'percentile', 'entropy']);
  t.true(result.chosen.agreement >= 0.9);
  t.true(result.bytes.length < fp32.length * 0.4, `int8 ${result.bytes.length} bytes vs fp32 ${fp32.length}`);
  t.deepEqual(result.plan.float, [], 'every Conv, Gemm and MatMul is quantized');

  // Stated tolerance: logits within 5% of the fp32 logits' range per image; CAM within 10% of the
  // fp32 CAM's scale (its largest peak over these images: a map whose own peak is near 0 has no
  // meaningful relative error).
  const { preprocessImage } = await import('../../../src/imaging/preprocess.js');
  const { decodeImage } = await import('../../../src/imaging/decode.js');
  const camDeltas: Array<{ file: string; delta: number; peak: number }> = [];
  for (const file of images.slice(0, 6)) {
    const tensor = await preprocessImage(await decodeImage(fs.readFileSync(file), { maxPixels: 1e6 }), SMALL_MANIFEST);
    const a = await run(fp32, tensor, ['logits', 'cam']);
    const b = await run(result.bytes, tensor, ['logits', 'cam']);
    const range = Math.max(...a.logits!) - Math.min(...a.logits!);
    const worst = Math.max(...a.logits!.map((v, i) => Math.abs(v - b.logits![i]!)));
    t.true(worst <= 0.05 * range, `${path.basename(file)}: logits differ by ${worst} (range ${range})`);
    camDeltas.push({ file: path.basename(file), peak: Math.max(...a.cam!), delta: Math.max(...a.cam!.map((v, i) => Math.abs(v - b.cam![i]!))) });
  }
  const camScale = Math.max(...camDeltas.map((d) => d.peak));
  for (const d of camDeltas) t.true(d.delta <= 0.1 * camScale, `${d.file}: CAM differs by ${d.delta} (CAM scale ${camScale})`);

  // what ORT actually runs (its optimized model): integer kernels, no float Conv/Gemm/MatMul left
  const ops = await optimizedOps(result.bytes);
  t.is(ops.QLinearConv, 2, JSON.stringify(ops));
  t.is(ops.QGemm, 2, JSON.stringify(ops));
  t.is((ops.DynamicQuantizeMatMul ?? 0) + (ops.MatMulIntegerToFloat ?? 0), 1, JSON.stringify(ops));
  t.falsy(ops.Conv ?? ops.Gemm ?? ops.MatMul, JSON.stringify(ops));
});

test('the fp32 variant rebuilt from the int8 file runs on float kernels, is deterministic and answers like int8', async (t) => {
  const root = tempDir(t);
  const images = listImages(await imageFolder(path.join(root, 'calibration'), 12));
  const result = await quantizeModel({ source: decodeOnnx(smallCnnModel({ cam: true })), manifest: SMALL_MANIFEST, calibrationImages: images, methods: ['minmax'], percentile: 99.99, agreementFloor: 0, threads: 1 });
  const a = fp32Bytes(result.bytes);
  const b = fp32Bytes(result.bytes);
  t.is(sha256Hex(Buffer.from(a)), sha256Hex(Buffer.from(b)));
  const ops = await optimizedOps(a);
  t.falsy(ops.QLinearConv ?? ops.QGemm ?? ops.DynamicQuantizeMatMul ?? ops.QuantizeLinear, JSON.stringify(ops));
  const input = new Float32Array(3 * 32 * 32).map((_, i) => Math.sin(i / 7));
  const original = await run(smallCnnModel({ cam: true }), input, ['logits', 'cam']);
  const rebuilt = await run(a, input, ['logits', 'cam']);
  const range = Math.max(...original.logits!) - Math.min(...original.logits!);
  t.true(Math.max(...original.logits!.map((v, i) => Math.abs(v - rebuilt.logits![i]!))) <= 0.02 * range, 'only weight rounding separates it from the original');
});

test('model quantize writes the int8 package as the default variant; dequantize rebuilds the fp32 one to the manifest sha256', async (t) => {
  const root = tempDir(t);
  const { config } = workspace(t);
  const data = await imageFolder(path.join(root, 'images'), 16);
  const dir = writeModelPackage(path.join(root, 'models'), { id: 'cnn', onnx: smallCnnModel({ cam: true }), size: 32, overrides: { preprocess: SMALL_MANIFEST.preprocess, outputs: SMALL_MANIFEST.outputs } });
  const quantize = await runCli(['model', 'quantize', path.join(dir, 'model.onnx'), '--calibrate', data, '--out', dir, '--method', 'minmax'], configEnv(config));
  t.is(quantize.code, 0, quantize.stderr);
  t.regex(quantize.stdout, /QLinearConv ×2, QGemm ×2/);
  const pkg = await loadModelPackage(dir);
  t.is(pkg.variant, 'int8');
  t.is(pkg.manifest.file, 'model.int8.onnx');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  t.deepEqual(Object.keys(manifest.variants), ['int8', 'fp32', 'export']);
  t.is(manifest.variants.export.sha256, sha256Hex(fs.readFileSync(path.join(dir, 'model.onnx'))));
  t.is(manifest.quantization.method, 'minmax');
  t.is(manifest.quantization.check.agreement, 1);

  const missing = await loadModelPackage(dir, 'fp32').catch((error: unknown) => error as { code: string; message: string });
  t.like(missing, { code: ErrorCode.MODEL_FILE_MISSING });
  t.regex((missing as unknown as Error).message, /model dequantize/, 'the error says how to make the fp32 variant');
  const rebuilt = await rebuildFp32(dir);
  t.true(rebuilt.matches === true);
  const fp32 = await loadModelPackage(dir, 'fp32');
  t.is(fp32.manifest.file, 'model.fp32.onnx');
  t.is(fp32.manifest.sha256, manifest.variants.fp32.sha256);
  t.like(await loadModelPackage(dir, 'float16').catch((error: unknown) => error), { code: ErrorCode.MODEL_VARIANT_UNKNOWN });

  // int8 and the fp32 export side by side on labelled images, recorded in the manifest
  const labelled = path.join(root, 'labelled');
  for (const [i, label] of ['normal', 'normal', 'fracture', 'dislocation'].entries()) {
    fs.mkdirSync(path.join(labelled, label), { recursive: true });
    fs.copyFileSync(path.join(data, `img-00${i + 1}.png`), path.join(labelled, label, `case${i}.png`));
  }
  const evaluation = await runCli(['model', 'evaluate', dir, '--data', labelled, '--out', path.join(root, 'report'), '--compare', 'export', '--record'], configEnv(config));
  t.is(evaluation.code, 0, evaluation.stderr);
  t.regex(evaluation.stdout, /# int8 against export/);
  const comparison = JSON.parse(fs.readFileSync(path.join(root, 'report', 'comparison.json'), 'utf8'));
  t.is(comparison.data.images, 4);
  t.true(comparison.top1Agreement >= 0 && comparison.top1Agreement <= 1);
  t.is(comparison.sensitivity.length, 3);
  t.true(fs.existsSync(path.join(root, 'report', 'export', 'evaluation.json')));
  const recorded = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).evaluation.heldOut;
  t.is(recorded.comparison.top1Agreement, comparison.top1Agreement);
  t.is(recorded.int8.sha256, manifest.variants.int8.sha256);

  // the configured variant reaches the classifier
  const classify = await runCli(['classify', '--json', path.join(data, 'img-001.png'), '--model', dir], { ...configEnv(config), CSPINE_MODEL__VARIANT: 'fp32' });
  t.is(classify.code, 0, classify.stderr);
  t.is(JSON.parse(classify.stdout.trim().split('\n')[0]!).model.sha256, manifest.variants.fp32.sha256);
});

test('quantize refuses, writing nothing, when int8 agrees with fp32 under the floor', async (t) => {
  const root = tempDir(t);
  const { config } = workspace(t);
  // calibrated on dark images only, checked on bright ones: the input range saturates and the
  // int8 brightness model calls every bright (normal) image dark
  const dark = path.join(root, 'dark');
  const bright = path.join(root, 'bright');
  fs.mkdirSync(dark);
  fs.mkdirSync(bright);
  for (let i = 0; i < 6; i++) {
    fs.writeFileSync(path.join(dark, `d${i}.png`), await sharp(Buffer.alloc(16 * 16, 20 + i), { raw: { width: 16, height: 16, channels: 1 } }).png().toBuffer());
    fs.writeFileSync(path.join(bright, `b${i}.png`), await sharp(Buffer.alloc(16 * 16, 230 + i), { raw: { width: 16, height: 16, channels: 1 } }).png().toBuffer());
  }
  const dir = writeModelPackage(path.join(root, 'models'), { id: 'bright', onnx: brightnessModel(), size: 16 });
  const out = path.join(root, 'out');
  const refused = await runCli(['model', 'quantize', path.join(dir, 'model.onnx'), '--calibrate', dark, '--check', bright, '--out', out, '--method', 'minmax'], configEnv(config));
  t.is(refused.code, 1);
  t.regex(refused.stderr, /E_QUANT_AGREEMENT_TOO_LOW: .*agrees with fp32 on 0\.00% of 6 check images.*under the floor of 99\.00%/);
  t.false(fs.existsSync(path.join(out, 'model.int8.onnx')));
  // the same data checked against itself passes
  const ok = await runCli(['model', 'quantize', path.join(dir, 'model.onnx'), '--calibrate', bright, '--out', out, '--method', 'minmax'], configEnv(config));
  t.is(ok.code, 0, ok.stderr);
});

test('a truncated, corrupt or empty ONNX file is E_MODEL_ONNX_INVALID, from the library and the CLI', async (t) => {
  const root = tempDir(t);
  const { config } = workspace(t);
  const good = smallCnnModel();
  const files = {
    truncated: good.subarray(0, Math.floor(good.length * 0.6)),
    corrupt: Uint8Array.from(good, (byte, i) => (i > 20 && i < 400 ? (byte * 37 + i) & 0xff : byte)),
    empty: new Uint8Array(0),
    text: new TextEncoder().encode('this is not a model\n'),
  };
  for (const [name, bytes] of Object.entries(files)) {
    const file = path.join(root, `${name}.onnx`);
    fs.writeFileSync(file, bytes);
    const error = t.throws(() => readOnnx(file), undefined, name) as { code?: string } | undefined;
    t.is(error?.code, ErrorCode.MODEL_ONNX_INVALID, `${name}: ${String(error)}`);
  }
  const data = await imageFolder(path.join(root, 'images'), 2);
  fs.writeFileSync(path.join(root, 'manifest.json'), fs.readFileSync(path.join(writeModelPackage(path.join(root, 'models'), { id: 'x', onnx: good, size: 32 }), 'manifest.json')));
  const run = await runCli(['model', 'quantize', path.join(root, 'truncated.onnx'), '--calibrate', data, '--out', path.join(root, 'out')], configEnv(config));
  t.is(run.code, 1);
  t.regex(run.stderr, /E_MODEL_ONNX_INVALID: .*truncated\.onnx is not a usable ONNX model: .*truncated/);
});

test('weights: per-channel symmetric int8; activations: asymmetric with an exact zero', (t) => {
  const { values, scales } = quantizeWeights(Float32Array.of(1, -0.5, 0.25, 0, 4, -8, 0, 0), [4, 2], 0);
  t.deepEqual(Array.from(scales, (s) => Number(s.toFixed(6))), [Number((1 / 127).toFixed(6)), Number((0.25 / 127).toFixed(6)), Number((8 / 127).toFixed(6)), 1]);
  t.deepEqual(Array.from(values), [127, -64, 127, 0, 64, -127, 0, 0]);
  t.deepEqual(activationParams({ min: 0, max: 2.55 }, 'uint8'), { scale: Math.fround(0.01), zeroPoint: 0 });
  t.deepEqual(activationParams({ min: 0, max: 2.55 }, 'int8'), { scale: Math.fround(0.01), zeroPoint: -128 });
  t.is(activationParams({ min: 0, max: 2.54 }, 'uint8', true).zeroPoint, 1, 'a kept Relu moves the zero point off the minimum');
  t.is(activationParams({ min: -1, max: 1 }, 'uint8').zeroPoint, 127); // 127.5 rounded, after the float32 scale
});

test('calibration: percentile trims outliers, entropy picks a threshold inside the range, signed tensors keep their span', (t) => {
  const stats = new TensorStats();
  const values = new Float32Array(100_000).map((_, i) => (i % 1000) / 1000);
  values[5] = 50; // one outlier
  stats.observeRange(values);
  stats.observeHistogram(values);
  t.is(rangeFor(stats, 'minmax').max, 50);
  t.true(rangeFor(stats, 'percentile', { percentile: 99.9 }).max < 1.1);
  const entropy = rangeFor(stats, 'entropy').max;
  t.true(entropy < 50 && entropy >= 0.9, String(entropy));
  t.true(entropyThresholdBins(Float64Array.of(5, 4, 3)) === 3);
  const signed = new TensorStats();
  signed.observeRange(Float32Array.of(-2, 0, 3));
  signed.observeHistogram(Float32Array.of(-2, 0, 3));
  t.deepEqual(rangeFor(signed, 'entropy'), { min: -2, max: 3 });
});

test('on ARM the session keeps QDQ int8 as int8 (session.qdqisint8allowed=1); elsewhere ORT decides; its threads never spin', (t) => {
  t.deepEqual(sessionOptions(2, {}, 'arm64').extra, { session: { intra_op: { allow_spinning: '0' }, qdqisint8allowed: '1' } });
  t.deepEqual(sessionOptions(2, {}, 'x64').extra, { session: { intra_op: { allow_spinning: '0' } } });
  t.is(sessionOptions(2, {}, 'x64').graphOptimizationLevel, 'all');
});

test("an exporter's Identity alias of a weight does not keep its layer in float", async (t) => {
  const { bypassConstantIdentities, makeNode } = await import('../../../src/model/onnx-io.js');
  const { planQuantization } = await import('../../../src/tools/quantize/plan.js');
  const model = decodeOnnx(smallCnnModel());
  model.graph.node = [
    makeNode('Identity', ['fc2.b'], ['fc2.b.alias'], 'alias'),
    ...model.graph.node.map((n) => ({ ...n, input: n.input.map((i) => (i === 'fc2.b' ? 'fc2.b.alias' : i)) })),
  ];
  t.is(planQuantization(model.graph).float.length, 1, 'as exported, the last Gemm stays float');
  t.deepEqual(planQuantization(bypassConstantIdentities(model).graph).float, []);

  // AdaptiveAvgPool2d exported on a map already at its size: an AveragePool that changes nothing
  const { bypassIdentityPools } = await import('../../../src/model/onnx-io.js');
  const pooled = decodeOnnx(smallCnnModel());
  pooled.graph.node = pooled.graph.node.flatMap((n) =>
    n.opType === 'Flatten' ? [makeNode('AveragePool', ['p2'], ['avg'], 'avg', { kernel_shape: [1, 1], strides: [1, 1] }), { ...n, input: ['avg'] }] : [n],
  );
  const bypassed = bypassIdentityPools(pooled);
  t.false(bypassed.graph.node.some((n) => n.opType === 'AveragePool'));
  t.deepEqual(bypassed.graph.node.find((n) => n.opType === 'Flatten')!.input, ['p2']);
});
