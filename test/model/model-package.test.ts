import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { ModelError } from '../../src/errors.js';
import { InferenceEngine, softmax } from '../../src/model/inference.js';
import { loadModelPackage } from '../../src/model/model-package.js';
import { brightnessModel, writeModelPackage } from '../../src/tools/fixtures/onnx-models.js';
import { tempDir } from '../helpers/fixtures.js';

const fill = (value: number, size = 16) => new Float32Array(3 * size * size).fill(value);

async function loadError(dir: string): Promise<ModelError> {
  const error = await loadModelPackage(dir).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ModelError)) throw new Error(`expected ModelError, got ${String(error)}`);
  return error;
}

test('a valid package loads and runs in a real ONNX Runtime session', async (t) => {
  const dir = writeModelPackage(tempDir(t), { id: 'bright', onnx: brightnessModel(), size: 16 });
  const model = await loadModelPackage(dir);
  t.is(model.manifest.id, 'bright');
  t.deepEqual(model.manifest.labels, ['normal', 'fracture', 'dislocation']);
  const engine = await InferenceEngine.open(model, { threads: 1 });
  t.teardown(() => engine.close());
  const bright = await engine.infer(fill(0.9));
  t.deepEqual(bright.logits.map((v) => Math.round(v)), [9, 0, -18]);
  t.true(bright.probabilities[0]! > 0.99);
  const dark = await engine.infer(fill(0.1));
  t.true(dark.probabilities[2]! > 0.99);
});

test('concurrent calls are serialised and each gets its own answer', async (t) => {
  const dir = writeModelPackage(tempDir(t), { id: 'bright', onnx: brightnessModel(), size: 16 });
  const engine = await InferenceEngine.open(await loadModelPackage(dir), { threads: 1 });
  t.teardown(() => engine.close());
  const levels = [0.9, 0.1, 0.45, 0.9, 0.1];
  const outputs = await Promise.all(levels.map((level) => engine.infer(fill(level))));
  const labels = outputs.map((out) => out.probabilities.indexOf(Math.max(...out.probabilities)));
  t.deepEqual(labels, [0, 2, 1, 0, 2]);
});

test('calibration temperature softens the probabilities', async (t) => {
  const dir = writeModelPackage(tempDir(t), { id: 'warm', onnx: brightnessModel(), size: 16, overrides: { calibration: { temperature: 4 } } });
  const engine = await InferenceEngine.open(await loadModelPackage(dir), { threads: 1 });
  t.teardown(() => engine.close());
  const out = await engine.infer(fill(0.9));
  softmax([9, 0, -18], 4).forEach((expected, i) => t.true(Math.abs(out.probabilities[i]! - expected) < 1e-5));
  t.true(out.probabilities[0]! < 0.93);
});

test('a changed model file fails its hash check and never reaches ONNX Runtime', async (t) => {
  const dir = writeModelPackage(tempDir(t), { id: 'bright', onnx: brightnessModel(), size: 16 });
  fs.appendFileSync(path.join(dir, 'model.onnx'), Buffer.from([0]));
  const error = await loadError(dir);
  t.is(error.code, 'E_MODEL_HASH_MISMATCH');
  t.regex(error.message, /model\.onnx/);
});

test('a missing package says what is missing and how to get one', async (t) => {
  const error = await loadError(path.join(tempDir(t), 'cspine-alexnet-demo'));
  t.is(error.code, 'E_MODEL_NOT_FOUND');
  t.regex(error.message, /manifest\.json/);
  t.regex(error.message, /docs\/model-package\.md/);
});

test('a missing model file and an invalid manifest have their own codes', async (t) => {
  const root = tempDir(t);
  const dir = writeModelPackage(root, { id: 'bright', onnx: brightnessModel(), size: 16 });
  fs.rmSync(path.join(dir, 'model.onnx'));
  t.is((await loadError(dir)).code, 'E_MODEL_FILE_MISSING');

  const bad = writeModelPackage(root, {
    id: 'bad',
    onnx: brightnessModel(),
    size: 16,
    overrides: { labels: ['fracture', 'fracture'], preprocess: { resize: 'stretch', mean: [0, 0], std: [1] } } as never,
  });
  const error = await loadError(bad);
  t.is(error.code, 'E_MODEL_MANIFEST_INVALID');
  t.regex(error.message, /labels: labels must be unique/);
  t.regex(error.message, /"normal"/);
  t.regex(error.message, /preprocess\.mean: needs 1 or 3 values/);
});

test('a manifest naming tensors the model lacks is refused at open', async (t) => {
  const dir = writeModelPackage(tempDir(t), { id: 'bright', onnx: brightnessModel(), size: 16, overrides: { outputs: { logits: 'scores' } } });
  const error = await InferenceEngine.open(await loadModelPackage(dir), { threads: 1 }).then(
    () => undefined,
    (caught: unknown) => caught as ModelError,
  );
  t.is(error?.code, 'E_MODEL_INTERFACE_MISMATCH');
  t.regex(error?.message ?? '', /no output "scores"/);
});

test('a file that is not ONNX fails to load with its own code', async (t) => {
  const dir = writeModelPackage(tempDir(t), { id: 'junk', onnx: new TextEncoder().encode('not a model'), size: 16 });
  const error = await InferenceEngine.open(await loadModelPackage(dir), { threads: 1 }).then(
    () => undefined,
    (caught: unknown) => caught as ModelError,
  );
  t.is(error?.code, 'E_MODEL_LOAD_FAILED');
});
