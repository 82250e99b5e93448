import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { modelReferencesCommand } from '../../src/commands/model-references.js';
import { CspineError } from '../../src/errors.js';
import { runSelfTest } from '../../src/jobs/self-test.js';
import { manifestSchema, packageFiles, type ModelManifest } from '../../src/model/manifest.js';
import { openClassifier } from '../../src/pipeline/open-classifier.js';
import { openDatabase } from '../../src/store/database.js';
import { grayImage } from '../../src/tools/fixtures/images.js';
import { MODEL_ID, workspace } from '../helpers/fixtures.js';

/** The brightness package with three references recorded by `model references`: GREEN normal, RED fracture, RED dislocation. */
async function packageWithReferences(t: ExecutionContext) {
  const { root, config } = workspace(t);
  const modelDir = path.join(config.model.dir, MODEL_ID);
  const images = await Promise.all(
    [
      ['normal.png', 230],
      ['fracture.png', 115],
      ['dislocation.png', 30],
    ].map(async ([name, brightness]) => {
      const file = path.join(root, name as string);
      fs.writeFileSync(file, await grayImage(brightness as number));
      return file;
    }),
  );
  t.is(await modelReferencesCommand(config, { modelDir, images }), 0);
  const db = openDatabase(config.store.path);
  t.teardown(() => db.close());
  const manifestPath = path.join(modelDir, 'manifest.json');
  const readJson = () => JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as ModelManifest;
  const editManifest = (edit: (manifest: ModelManifest) => void) => {
    const manifest = readJson();
    edit(manifest);
    fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  };
  /** A fresh classifier (as the device opens one after a change), self-tested, closed; the error when it fails. */
  const selfTest = async () => {
    const classifier = await openClassifier(config);
    try {
      return await runSelfTest(classifier, db, 0.001);
    } finally {
      await classifier.engine.close();
    }
  };
  const selfTestError = () =>
    selfTest().then(
      () => undefined,
      (caught: unknown) => caught as CspineError,
    );
  return { config, modelDir, db, readJson, editManifest, selfTest, selfTestError };
}

test('model references copies the images into the package and records what the pipeline makes of them', async (t) => {
  const { modelDir, readJson, selfTest } = await packageWithReferences(t);
  const manifest = manifestSchema.parse(readJson());
  t.is(manifest.selfTest?.tolerance, 0.02);
  t.deepEqual(
    manifest.selfTest?.references.map(({ file, expected }) => [file, expected.level, expected.label]),
    [
      ['reference/normal.png', 'GREEN', 'normal'],
      ['reference/fracture.png', 'RED', 'fracture'],
      ['reference/dislocation.png', 'RED', 'dislocation'],
    ],
  );
  t.true(manifest.selfTest!.references[0]!.expected.probabilities.normal! > 0.99);
  for (const reference of manifest.selfTest!.references) t.true(fs.existsSync(path.join(modelDir, reference.file)));
  // The references travel with the package and are covered by its signature.
  t.deepEqual(
    packageFiles(manifest).map((entry) => entry.file),
    ['model.onnx', 'reference/normal.png', 'reference/fracture.png', 'reference/dislocation.png'],
  );

  const result = await selfTest();
  t.is(result.status, 'baseline');
  t.deepEqual(
    result.references.map(({ file, level, label }) => [file, level, label]),
    manifest.selfTest!.references.map(({ file, expected }) => [file, expected.level, expected.label]),
  );
  t.true(result.references.every((reference) => reference.maxDelta < 1e-5));
});

test('a package whose reference expects another lamp fails its self-test, naming it, and records no baseline', async (t) => {
  const { db, editManifest, selfTestError } = await packageWithReferences(t);
  editManifest((manifest) => {
    manifest.selfTest!.references[0]!.expected.level = 'RED';
  });
  const error = await selfTestError();
  t.is(error?.code, 'E_SELF_TEST_FAILED');
  t.regex(error?.message ?? '', /reference\/normal\.png gives GREEN normal .*expected RED normal/);
  t.is((db.prepare('SELECT count(*) AS n FROM self_test_baselines').get() as { n: number }).n, 0);
});

test('a probability further from the recorded one than the tolerance fails; within it passes', async (t) => {
  const { editManifest, selfTest, selfTestError } = await packageWithReferences(t);
  const shift = (delta: number) =>
    editManifest((manifest) => {
      const { probabilities } = manifest.selfTest!.references[1]!.expected;
      probabilities.fracture = Math.min(1, probabilities.fracture! + delta);
      probabilities.normal = Math.max(0, probabilities.normal! - delta);
    });
  shift(-0.015);
  t.is((await selfTest()).status, 'baseline');
  shift(-0.02);
  const error = await selfTestError();
  t.is(error?.code, 'E_SELF_TEST_FAILED');
  t.regex(error?.message ?? '', /reference\/fracture\.png gives RED fracture .*largest probability difference 0\.03(49|50)\d*, tolerance 0\.02/);
  t.like(error?.details, { reference: 'reference/fracture.png', expected: { level: 'RED', label: 'fracture' }, got: { level: 'RED', label: 'fracture' } });
});

test('a reference file replaced in the package is refused before it is classified: E_MODEL_HASH_MISMATCH', async (t) => {
  const { modelDir, selfTestError } = await packageWithReferences(t);
  fs.writeFileSync(path.join(modelDir, 'reference/dislocation.png'), await grayImage(230));
  const error = await selfTestError();
  t.is(error?.code, 'E_MODEL_HASH_MISMATCH');
  t.regex(error?.message ?? '', /reference\/dislocation\.png/);
  fs.rmSync(path.join(modelDir, 'reference/dislocation.png'));
  t.is((await selfTestError())?.code, 'E_MODEL_FILE_MISSING');
});

test('an image the pipeline refuses cannot be a reference, and nothing is written', async (t) => {
  const { root, config } = workspace(t, { quality: { enabled: true } });
  const modelDir = path.join(config.model.dir, MODEL_ID);
  const before = fs.readFileSync(path.join(modelDir, 'manifest.json'), 'utf8');
  const blank = path.join(root, 'blank.png');
  fs.writeFileSync(blank, await grayImage(0, { width: 512, height: 640 }));
  const error = await modelReferencesCommand(config, { modelDir, images: [blank] }).then(
    () => undefined,
    (caught: unknown) => caught as CspineError,
  );
  t.regex(error?.code ?? '', /^E_QUALITY_/);
  t.regex(error?.message ?? '', /blank\.png cannot be a reference/);
  t.is(fs.readFileSync(path.join(modelDir, 'manifest.json'), 'utf8'), before);
  t.false(fs.existsSync(path.join(modelDir, 'reference')));
});

test('the manifest refuses a reference outside the package or expecting an unknown label', (t) => {
  const base = {
    schemaVersion: 1,
    id: 'x',
    file: 'model.onnx',
    sha256: '0'.repeat(64),
    labels: ['normal', 'fracture'],
    input: { name: 'input', layout: 'NCHW', shape: [1, 1, 8, 8] },
    preprocess: { resize: 'stretch', mean: [0], std: [1] },
    outputs: { logits: 'logits' },
  };
  const reference = (file: string, label: string, probabilities: Record<string, number>) => ({
    ...base,
    selfTest: { references: [{ file, sha256: '1'.repeat(64), expected: { level: 'GREEN', label, probabilities } }] },
  });
  t.true(manifestSchema.safeParse(reference('reference/ok.png', 'normal', { normal: 1, fracture: 0 })).success);
  const problems = (manifest: unknown) => {
    const parsed = manifestSchema.safeParse(manifest);
    return parsed.success ? [] : parsed.error.issues.map((issue) => issue.path.join('.'));
  };
  t.deepEqual(problems(reference('reference/../model.onnx', 'normal', { normal: 1, fracture: 0 })), ['selfTest.references.0.file']);
  t.deepEqual(problems(reference('/etc/passwd', 'normal', { normal: 1, fracture: 0 })), ['selfTest.references.0.file']);
  t.deepEqual(problems(reference('reference/ok.png', 'whiplash', { normal: 1 })), ['selfTest.references.0.expected.label', 'selfTest.references.0.expected.probabilities']);
});
