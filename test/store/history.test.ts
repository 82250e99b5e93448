import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { StoreError } from '../../src/errors.js';
import { openDatabase } from '../../src/store/database.js';
import { History, type ImageFacts } from '../../src/store/history.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { tempDir } from '../helpers/fixtures.js';

const image = (sha: string): ImageFacts => ({ sha256: sha.repeat(64).slice(0, 64), source: `${sha}.png`, sourceKind: 'folder', bytes: 10, format: 'png', width: 2, height: 2, bitsPerSample: 8, receivedAt: new Date('2026-11-26T10:00:00Z') });
const classification = {
  modelId: 'm',
  modelSha256: 'f'.repeat(64),
  label: 'fracture',
  probabilities: { normal: 0.1, fracture: 0.8, dislocation: 0.1 },
  triage: { level: 'RED' as const, reason: 'fracture suspected (P=80.0%)' },
  timingsMs: { decode: 1, preprocess: 2, infer: 3, total: 6 },
};

test('a new database is migrated, in WAL mode with full sync', (t) => {
  const file = path.join(tempDir(t), 'sub/dir/cspine.db');
  const db = openDatabase(file);
  t.teardown(() => db.close());
  t.is(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  t.is(db.pragma('journal_mode', { simple: true }), 'wal');
  t.is(db.pragma('synchronous', { simple: true }), 2);
  t.is(db.pragma('page_size', { simple: true }), 1024, 'small pages: fewer bytes written per result (npm run bench:sync)');
});

test('classified and rejected images are recorded once each and read back', (t) => {
  const db = openDatabase(path.join(tempDir(t), 'cspine.db'));
  t.teardown(() => db.close());
  const history = new History(db);
  history.recordClassified(image('a'), classification);
  history.recordRejected(image('b'), { code: 'E_IMAGE_CORRUPT', message: 'jpeg data is damaged' });
  history.recordClassified(image('a'), classification); // same content again: no second record

  const entries = history.recent(10);
  t.is(entries.length, 2);
  const [rejected, classified] = entries;
  t.is(classified!.outcome, 'classified');
  t.deepEqual(classified!.probabilities, classification.probabilities);
  t.deepEqual(classified!.triage, classification.triage);
  t.deepEqual(classified!.model, { id: 'm', sha256: 'f'.repeat(64) });
  t.is(rejected!.outcome, 'rejected');
  t.deepEqual(rejected!.error, { code: 'E_IMAGE_CORRUPT', message: 'jpeg data is damaged' });
  t.is(rejected!.triage.level, 'AMBER');

  t.deepEqual(history.outcomeOf(image('a').sha256), { kind: 'classified', label: 'fracture', triage: classification.triage });
  t.is(history.outcomeOf('0'.repeat(64)), undefined);
});

test('a failed detail insert leaves no half record behind', (t) => {
  const db = openDatabase(path.join(tempDir(t), 'cspine.db'));
  t.teardown(() => db.close());
  const history = new History(db);
  // An invalid triage level violates the results CHECK after the images row was inserted.
  const broken = { ...classification, triage: { level: 'GREENISH' as never, reason: 'x' } };
  t.throws(() => history.recordClassified(image('c'), broken), { instanceOf: StoreError });
  t.is(history.outcomeOf(image('c').sha256), undefined);
  t.is((db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n, 0);
});

test('committed records survive closing and reopening', (t) => {
  const file = path.join(tempDir(t), 'cspine.db');
  const first = openDatabase(file);
  new History(first).recordClassified(image('d'), classification);
  first.close();
  const again = openDatabase(file, { readonly: true });
  t.teardown(() => again.close());
  t.is(new History(again).recent(5).length, 1);
});

test('a database from a newer cspine-edge is refused, not downgraded', (t) => {
  const file = path.join(tempDir(t), 'cspine.db');
  const raw = new Database(file);
  raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
  raw.close();
  const error = t.throws(() => openDatabase(file), { instanceOf: StoreError });
  t.is(error.code, 'E_STORE_NEWER_SCHEMA');
});
