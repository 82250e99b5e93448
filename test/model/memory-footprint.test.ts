/** What issue 17 changed to cut the service's memory, on real ONNX Runtime sessions (docs/benchmarks-memory.md). */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import ort from 'onnxruntime-node';
import { configSchema } from '../../src/config/schema.js';
import { decodeImage } from '../../src/imaging/decode.js';
import { preprocessImage } from '../../src/imaging/preprocess.js';
import { InferenceEngine, sessionOptions, softmax } from '../../src/model/inference.js';
import { loadModelPackage } from '../../src/model/model-package.js';
import { SessionHost } from '../../src/model/session-host.js';
import { generatePhantoms } from '../../src/tools/synth/generate.js';
import { SHIPPED_MODEL, tempDir } from '../helpers/fixtures.js';

const shippedDir = path.join(SHIPPED_MODEL.dir, SHIPPED_MODEL.id);

test('ONNX Runtime runs without its CPU memory arena unless model.memoryArena asks for it', (t) => {
  t.false(sessionOptions(1).enableCpuMemArena);
  t.true(sessionOptions(1, { enableCpuMemArena: true }).enableCpuMemArena);
  t.false(configSchema.parse({}).model.memoryArena);
  t.true(configSchema.parse({ model: { memoryArena: true } }).model.memoryArena);
});

test('the shipped INT8 model gives the same probabilities as with the options before issue 17 (arena on, main thread)', async (t) => {
  const out = tempDir(t);
  await generatePhantoms({ outDir: out, count: 4, seed: 17, bits: 16 });
  const files = fs
    .readdirSync(out, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.png'))
    .map((entry) => path.join(entry.parentPath, entry.name));
  t.is(files.length, 4);

  const model = await loadModelPackage(shippedDir);
  const { manifest } = model;
  const tensors = await Promise.all(files.map(async (file) => preprocessImage(await decodeImage(fs.readFileSync(file), { maxPixels: 64_000_000 }), manifest)));

  const previous = await ort.InferenceSession.create(model.onnxPath, { ...sessionOptions(1), enableCpuMemArena: true });
  t.teardown(() => previous.release());
  const engine = await InferenceEngine.open(model, { threads: 1 });
  t.teardown(() => engine.close());

  for (const tensor of tensors) {
    const expected = await previous.run({ [manifest.input.name]: new ort.Tensor('float32', tensor, [...manifest.input.shape]) });
    const expectedProbabilities = softmax(Array.from(expected[manifest.outputs.logits]!.data as Float32Array), manifest.calibration.temperature);
    const got = await engine.infer(tensor);
    for (const [i, probability] of got.probabilities.entries()) t.true(Math.abs(probability - expectedProbabilities[i]!) <= 1e-6, `${probability} vs ${expectedProbabilities[i]}`);
  }
});

test('a hosted session stages each run in its own buffer: the caller keeps its array, and runs in flight together do not mix', async (t) => {
  const model = await loadModelPackage(shippedDir);
  const { input, outputs, input: { shape } } = model.manifest;
  const host = new SessionHost();
  t.teardown(() => host.close());
  const session = await host.create(model.onnxPath, sessionOptions(1));
  const size = shape.reduce((a, b) => a * b, 1);
  const inputs = [0.2, -1.1, 0.7].map((level) => new Float32Array(size).map((_, i) => level + Math.sin(i / 97)));
  const logits = (result: Awaited<ReturnType<typeof session.run>>) => Array.from(result[outputs.logits]!.data);

  const oneByOne: number[][] = [];
  for (const data of inputs) oneByOne.push(logits(await session.run({ [input.name]: { data, dims: shape } }, [outputs.logits])));
  for (const data of inputs) t.is(data.length, size, 'the caller’s array is still attached');
  t.notDeepEqual(oneByOne[0], oneByOne[1]);

  const again = await Promise.all(inputs.map((data) => session.run({ [input.name]: { data, dims: shape } }, [outputs.logits])));
  t.deepEqual(again.map(logits), oneByOne);
});
