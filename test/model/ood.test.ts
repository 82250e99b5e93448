import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { configSchema } from '../../src/config/schema.js';
import { ModelError } from '../../src/errors.js';
import { InferenceEngine } from '../../src/model/inference.js';
import { loadModelPackage } from '../../src/model/model-package.js';
import ort from 'onnxruntime-node';
import { confidenceDeficit, encodeOodStatistics, OodDetector, residualModel, subspaceResidual } from '../../src/model/ood.js';
import { quantile } from '../../src/tools/bench/bench.js';
import { addFeaturesOutput, calibrateOod, FEATURES_OUTPUT, principalSubspace } from '../../src/tools/ood-calibrate.js';
import { decodeOnnx, encodeOnnx } from '../../src/model/onnx-io.js';
import { sha256Hex } from '../../src/hash.js';
import { modelOodCalibrateCommand } from '../../src/commands/model-ood.js';
import { openClassifier } from '../../src/pipeline/open-classifier.js';
import { generatePhantoms } from '../../src/tools/synth/generate.js';
import { tempDir } from '../helpers/fixtures.js';
import { smallCnnModel, writeModelPackage } from '../../src/tools/fixtures/onnx-models.js';

/** Deterministic pseudo-random numbers in [-0.5, 0.5). */
function randoms(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648 - 0.5;
  };
}

test('confidence deficit keeps the tiny values of confident images instead of rounding them to 0', (t) => {
  t.is(confidenceDeficit([30, 0, 0]), Math.log1p(2 * Math.exp(-30)));
  t.true(confidenceDeficit([30, 0, 0]) > 0);
  t.is(confidenceDeficit([1, 1, 1]), Math.log(3));
  t.true(Math.abs(confidenceDeficit([4, 0, 0], 2) - Math.log1p(2 * Math.exp(-2))) < 1e-15);
});

test('the residual is the distance from the principal subspace through the mean', (t) => {
  const mean = Float32Array.of(1, 1, 1);
  const components = Float32Array.of(1, 0, 0, 0, 1, 0); // the x–y plane through (1,1,1)
  t.is(subspaceResidual(Float32Array.of(5, -3, 1), { mean, components }), 0);
  t.true(Math.abs(subspaceResidual(Float32Array.of(5, -3, 4), { mean, components }) - 3) < 1e-6);
});

test('principal subspace iteration recovers the directions the data varies in', (t) => {
  const random = randoms(7);
  const dim = 40;
  const axes = [3, 11, 27];
  const rows = Array.from({ length: 300 }, () => {
    const row = Float32Array.from({ length: dim }, () => random() * 0.01);
    axes.forEach((axis, k) => (row[axis] = random() * (10 - 3 * k)));
    return row;
  });
  const components = principalSubspace(rows, 3, { iterations: 4 });
  for (const axis of axes) {
    // Each true axis lies (almost) entirely in the span of the three components found.
    let inSpan = 0;
    for (let k = 0; k < 3; k++) inSpan += components[k * dim + axis]! ** 2;
    t.true(inSpan > 0.999, `axis ${axis}: ${inSpan}`);
  }
});

test('calibration refuses a network whose features never vary, instead of writing NaN thresholds', (t) => {
  const samples = Array.from({ length: 40 }, (_, i) => ({ logits: [1 + i * 0.01, 0, 0], features: new Float32Array(16).fill(0.5) }));
  const error = t.throws(() => calibrateOod(samples, { components: 4, percentile: 99, temperature: 1 }));
  t.regex(error.message, /features are the same for 99% of the 40 calibration images .*untrained or broken network/);
});

test('calibration keeps the chosen share of its images inside the combined score', (t) => {
  const random = randoms(3);
  const samples = Array.from({ length: 400 }, () => ({
    logits: [8 + random() * 4, random(), random()],
    features: Float32Array.from({ length: 16 }, (_, j) => (j < 4 ? random() * 5 : random() * 0.2)),
  }));
  const calibration = calibrateOod(samples, { components: 4, percentile: 95, temperature: 1 });
  const detector = new OodDetector(
    { method: 'msp+pca-residual', statsFile: 'ood.bin', statsSha256: '0'.repeat(64), featureDim: 16, components: 4, thresholds: calibration.thresholds, inDistributionPercentile: 95 },
    1,
  );
  const residual = (features: Float32Array) => subspaceResidual(features, calibration.statistics);
  const inside = samples.filter((sample) => detector.score(sample.logits, residual(sample.features)).inDistribution).length / samples.length;
  t.true(Math.abs(inside - 0.95) <= 0.01, `inside ${inside}`);
  t.is(calibration.insideShare, inside);
  // Far from every calibration image in the directions they never varied in: outside.
  const far = detector.score([10, 0, 0], residual(Float32Array.from({ length: 16 }, () => 3)));
  t.false(far.inDistribution);
  t.true(far.parts.residual > 1);
  t.is(quantile([1, 2, 3, 4, 5], 0.5), 3);
});

test('a NaN residual is never read as familiar', (t) => {
  const detector = new OodDetector(
    { method: 'msp+pca-residual', statsFile: 'ood.bin', statsSha256: '0'.repeat(64), featureDim: 2, components: 1, thresholds: { confidence: 1, residual: 1 }, inDistributionPercentile: 99 },
    1,
  );
  t.false(detector.score([5, 0, 0], Number.NaN).inDistribution);
  t.true(detector.score([5, 0, 0], 0.5).inDistribution);
});

test('the residual graph run by ONNX Runtime agrees with the reference computation', async (t) => {
  const random = randoms(11);
  const dim = 300;
  const rows = Array.from({ length: 80 }, () => Float32Array.from({ length: dim }, (_, j) => random() * (j < 10 ? 4 : 0.3)));
  const { statistics } = calibrateOod(rows.map((features) => ({ logits: [5, 0, 0], features })), { components: 12, percentile: 99, temperature: 1 });
  const session = await ort.InferenceSession.create(residualModel(statistics));
  t.teardown(() => session.release());
  for (const features of [rows[0]!, Float32Array.from({ length: dim }, () => random() * 3)]) {
    const result = await session.run({ features: new ort.Tensor('float32', features, [1, dim]) });
    const fromOrt = Math.sqrt((result.squared_residual!.data as Float32Array)[0]!);
    const reference = subspaceResidual(features, statistics);
    t.true(Math.abs(fromOrt - reference) <= 1e-3 * Math.max(1, reference), `${fromOrt} vs ${reference}`);
  }
});

/** A package of the small CNN with the features output added. */
function guardedPackage(root: string): string {
  const model = decodeOnnx(smallCnnModel());
  featureSource = addFeaturesOutput(model);
  return writeModelPackage(root, { id: 'small-guarded', onnx: encodeOnnx(model), size: 32, overrides: { outputs: { logits: 'logits', features: FEATURES_OUTPUT } } });
}
let featureSource = '';

test('the features output added to a graph is the classifier head input, read in a real ORT session', async (t) => {
  const root = tempDir(t);
  const dir = guardedPackage(root);
  const model = decodeOnnx(fs.readFileSync(path.join(dir, 'model.onnx')));
  t.true(model.graph.output.some((output) => output.name === FEATURES_OUTPUT));
  t.is(featureSource, 'flat');
  t.throws(() => addFeaturesOutput(model), { message: /already has an output/ });
  const engine = await InferenceEngine.open(await loadModelPackage(dir), { threads: 1 });
  t.teardown(() => engine.close());
  const random = randoms(5);
  const output = await engine.infer(Float32Array.from({ length: 3 * 32 * 32 }, random));
  t.is(output.features?.length, 1024); // 16 channels × 8 × 8 after two poolings: the first Gemm's input
  t.true(output.features!.some((value) => value > 0));
  t.true(output.features!.every((value) => value >= 0)); // after ReLU and max-pooling
});

test('tampered OOD statistics stop the package from loading', async (t) => {
  const root = tempDir(t);
  const dir = guardedPackage(root);
  const stats = encodeOodStatistics({ mean: new Float32Array(1024), components: new Float32Array(2 * 1024) });
  fs.writeFileSync(path.join(dir, 'ood.bin'), stats);
  const manifestPath = path.join(dir, 'manifest.json');
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  manifest.ood = {
    method: 'msp+pca-residual',
    statsFile: 'ood.bin',
    statsSha256: sha256Hex(stats),
    featureDim: 1024,
    components: 2,
    thresholds: { confidence: 0.01, residual: 1 },
    inDistributionPercentile: 99,
  };
  fs.writeFileSync(manifestPath, JSON.stringify(manifest));
  const loaded = await loadModelPackage(dir);
  t.is(loaded.oodStatistics?.components.length, 2 * 1024);

  stats[100] = stats[100]! ^ 0xff;
  fs.writeFileSync(path.join(dir, 'ood.bin'), stats);
  const error = await t.throwsAsync(loadModelPackage(dir), { instanceOf: ModelError });
  t.is(error?.code, 'E_MODEL_HASH_MISMATCH');
  fs.rmSync(path.join(dir, 'ood.bin'));
  const missing = await t.throwsAsync(loadModelPackage(dir), { instanceOf: ModelError });
  t.is(missing?.code, 'E_MODEL_FILE_MISSING');
  t.regex(missing?.message ?? '', /ood-calibrate/);
});

test('the shipped package is guarded: its OOD statistics load and verify', async (t) => {
  const config = configSchema.parse({ model: { dir: path.resolve('models') } });
  const classifier = await openClassifier(config);
  t.teardown(() => classifier.engine.close());
  t.truthy(classifier.detector);
  t.is(classifier.detector?.spec.featureDim, 9216);
});

test('model ood-calibrate gives a package its features output and verified statistics', async (t) => {
  const root = tempDir(t);
  const dir = writeModelPackage(root, { id: 'small', onnx: smallCnnModel(), size: 32 });
  const images = path.join(root, 'phantoms');
  await generatePhantoms({ outDir: images, count: 24, seed: 777_005, width: 64, height: 80 });
  const config = configSchema.parse({ model: { dir: root, id: 'small', threads: 1 } });
  t.is(await modelOodCalibrateCommand(config, { modelDir: dir, dataDirs: [images], count: 24, components: 4, percentile: 95 }), 0);

  const pkg = await loadModelPackage(dir); // hashes of the rewritten ONNX file and of ood.bin verified
  t.is(pkg.manifest.outputs.features, FEATURES_OUTPUT);
  t.like(pkg.manifest.ood, { method: 'msp+pca-residual', featureDim: 1024, components: 4, inDistributionPercentile: 95, provenance: { images: 24, featureSource: 'flat' } });
  t.is(pkg.oodStatistics?.components.length, 4 * 1024);
  const classifier = await openClassifier(config);
  t.teardown(() => classifier.engine.close());
  t.truthy(classifier.detector);
});
