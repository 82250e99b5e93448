import path from 'node:path';
import Database from 'better-sqlite3';
import test from 'ava';
import { openDatabase } from '../../src/store/database.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { Outbox } from '../../src/store/outbox.js';
import { tempDir } from '../helpers/fixtures.js';

test('a database from before update reports keeps its outbox rows as they were and takes update reports once migrated', (t) => {
  const file = path.join(tempDir(t), 'cspine.db');
  // The schema before update reports, with results, an event and a delivery in its outbox.
  const version = MIGRATIONS.findIndex((migration) => migration.includes('outbox_next'));
  const before = new Database(file);
  before.pragma('foreign_keys = ON');
  for (const migration of MIGRATIONS.slice(0, version)) before.exec(migration);
  before.pragma(`user_version = ${version}`);
  // Written by hand: today's History and Outbox prepare statements for columns this schema does not have yet.
  const image = before.prepare(`INSERT INTO images (sha256, source, source_kind, bytes, received_at, processed_at, outcome) VALUES (?, ?, 'folder', 1, ?, ?, 'rejected')`);
  for (let i = 0; i < 3; i++) image.run(String(i).repeat(64), `image-${i}.png`, `2026-01-01T00:00:0${i}.000Z`, `2026-01-01T00:00:0${i}.500Z`);
  before.exec(`INSERT INTO outbox (message_id, kind, image_id, created_at) SELECT 'result-' || id, 'result', id, received_at FROM images ORDER BY id`);
  const addOld = before.prepare(`INSERT INTO outbox (message_id, kind, payload, created_at) VALUES (?, ?, '{}', '2026-01-01T00:00:00.000Z')`);
  addOld.run('event-1', 'event');
  before.exec(`UPDATE outbox SET delivered_at = '2026-01-01T00:00:01.000Z' WHERE id = (SELECT min(id) FROM outbox)`);
  t.throws(() => addOld.run('update-1', 'update'), { any: true, code: 'SQLITE_CONSTRAINT_CHECK' }, 'the old schema has no room for them');
  const rows = (before.prepare('SELECT * FROM outbox ORDER BY id').all() as Array<{ delivered_at: string | null }>).map((row) => ({ ...row, stored_at: row.delivered_at }));
  before.close();

  const db = openDatabase(file);
  t.teardown(() => db.close());
  t.is(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  t.deepEqual(db.prepare('SELECT * FROM outbox ORDER BY id').all(), rows, 'every row kept as it was; what was delivered counts as stored (receipts came later)');
  const migrated = new Outbox(db);
  const id = migrated.addUpdate({ schema: 'cspine.update.v1', state: 'testing' });
  t.like(migrated.pending(10).at(-1), { kind: 'update', messageId: id });
  t.is(migrated.backlog().pending, 4);
  db.prepare('DELETE FROM images').run();
  t.deepEqual(migrated.pending(10).map((row) => row.kind), ['event', 'update'], 'result rows still go with their history record');
  t.deepEqual(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox' ORDER BY name`).pluck().all(), ['outbox_by_image', 'outbox_by_message', 'outbox_unconfirmed', 'outbox_undelivered']);
});
