import path from 'node:path';
import test from 'ava';
import { CspineError } from '../../src/errors.js';
import { referenceImage, runSelfTest } from '../../src/jobs/self-test.js';
import { openClassifier } from '../../src/pipeline/open-classifier.js';
import { openDatabase } from '../../src/store/database.js';
import { workspace } from '../helpers/fixtures.js';

test('the first run records a baseline, later runs must reproduce it', async (t) => {
  const { root, config } = workspace(t);
  const db = openDatabase(path.join(root, 'data/cspine.db'));
  const classifier = await openClassifier(config);
  t.teardown(async () => {
    await classifier.engine.close();
    db.close();
  });
  const first = await runSelfTest(classifier, db, 0.001);
  t.is(first.status, 'baseline');
  const second = await runSelfTest(classifier, db, 0.001);
  t.is(second.status, 'pass');
  t.true(second.maxDelta <= 1e-6);

  // A drift (here: the stored expectation changed under it) fails with its own code.
  db.prepare(`UPDATE self_test_baselines SET probabilities = json_set(probabilities, '$.normal', 0.5)`).run();
  const error = await runSelfTest(classifier, db, 0.001).then(
    () => undefined,
    (caught: unknown) => caught as CspineError,
  );
  t.is(error?.code, 'E_SELF_TEST_FAILED');
  t.regex(error?.message ?? '', /tolerance 0\.001/);
});

test('the reference image is the same bytes every time', async (t) => {
  const a = await referenceImage();
  const b = await referenceImage();
  t.true(a.equals(b));
  t.true(a.length > 1000);
});
