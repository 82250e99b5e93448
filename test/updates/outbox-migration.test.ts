import path from 'node:path';
import Database from 'better-sqlite3';
import test from 'ava';
import { openDatabase } from '../../src/store/database.js';
import { History } from '../../src/store/history.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { Outbox } from '../../src/store/outbox.js';
import { recordResults } from '../../src/tools/fixtures/results.js';
import { tempDir } from '../helpers/fixtures.js';

test('a database from before update reports keeps its outbox rows as they were and takes update reports once migrated', (t) => {
  const file = path.join(tempDir(t), 'cspine.db');
  // The previous version's schema (all but the last migration), with results, an event and a delivery in its outbox.
  const before = new Database(file);
  before.pragma('foreign_keys = ON');
  for (const migration of MIGRATIONS.slice(0, -1)) before.exec(migration);
  before.pragma(`user_version = ${MIGRATIONS.length - 1}`);
  const outbox = new Outbox(before);
  recordResults(new History(before, outbox), 3);
  outbox.addEvent({ schema: 'cspine.event.v1', code: 'E_X', message: 'x' });
  outbox.markDelivered([outbox.pending(1)[0]!.id]);
  t.throws(() => outbox.addUpdate({ schema: 'cspine.update.v1' }), { message: /CHECK/ }, 'the old schema has no room for them');
  const rows = before.prepare('SELECT * FROM outbox ORDER BY id').all();
  before.close();

  const db = openDatabase(file);
  t.teardown(() => db.close());
  t.is(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  t.deepEqual(db.prepare('SELECT * FROM outbox ORDER BY id').all(), rows, 'every row kept as it was');
  const migrated = new Outbox(db);
  const id = migrated.addUpdate({ schema: 'cspine.update.v1', state: 'testing' });
  t.like(migrated.pending(10).at(-1), { kind: 'update', messageId: id });
  t.is(migrated.backlog().pending, 4);
  db.prepare('DELETE FROM images').run();
  t.deepEqual(migrated.pending(10).map((row) => row.kind), ['event', 'update'], 'result rows still go with their history record');
  t.deepEqual(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox' ORDER BY name`).pluck().all(), ['outbox_by_image', 'outbox_undelivered']);
});
