import path from 'node:path';
import test from 'ava';
import { openDatabase } from '../../src/store/database.js';
import { History } from '../../src/store/history.js';
import { Outbox } from '../../src/store/outbox.js';
import { recordResults } from '../../src/tools/fixtures/results.js';
import { tempDir } from '../helpers/fixtures.js';

function store(t: import('ava').ExecutionContext) {
  const db = openDatabase(path.join(tempDir(t), 'cspine.db'));
  t.teardown(() => db.close());
  const outbox = new Outbox(db);
  return { db, outbox, history: new History(db, outbox) };
}

test('each result queues one outbox row in its own transaction, in order', (t) => {
  const { outbox, history } = store(t);
  recordResults(history, 3);
  const rows = outbox.pending(10);
  t.is(rows.length, 3);
  t.deepEqual(rows.map((row) => row.kind), ['result', 'result', 'result']);
  t.true(rows[0]!.id < rows[1]!.id && rows[1]!.id < rows[2]!.id);
  t.is(new Set(rows.map((row) => row.messageId)).size, 3);
  t.deepEqual(outbox.pending(10, rows[0]!.id).map((row) => row.id), [rows[1]!.id, rows[2]!.id], 'paged after a cursor');
  t.is(outbox.backlog().pending, 3);
});

test('a history without an outbox queues nothing (sync off)', (t) => {
  const { db, outbox } = store(t);
  recordResults(new History(db), 2);
  t.is(outbox.backlog().pending, 0);
});

test('delivery is recorded in batches and shows in history', (t) => {
  const { outbox, history } = store(t);
  recordResults(history, 4);
  const [first, second] = outbox.pending(2);
  outbox.markDelivered([first!.id, second!.id]);
  t.deepEqual(outbox.backlog().pending, 2);
  const entries = history.recent(4).reverse();
  t.truthy(entries[0]!.delivery?.deliveredAt);
  t.is(entries[3]!.delivery?.deliveredAt, null);
  t.is(entries[0]!.delivery?.messageId, first!.messageId);
});

test('events carry their own payload and id', (t) => {
  const { outbox } = store(t);
  const id = outbox.addEvent({ schema: 'cspine.event.v1', code: 'E_X', message: 'x' });
  const [row] = outbox.pending(5);
  t.is(row!.kind, 'event');
  t.is(row!.imageId, null);
  t.deepEqual(JSON.parse(row!.payload!), { schema: 'cspine.event.v1', code: 'E_X', message: 'x', id });
});

test('history pruning never removes an undelivered result', (t) => {
  const { outbox, history } = store(t);
  recordResults(history, 4);
  const rows = outbox.pending(4);
  outbox.markDelivered([rows[0]!.id, rows[1]!.id]);
  const deleted = history.pruneBefore(new Date(Date.now() + 60_000));
  t.is(deleted, 2);
  t.is(history.recent(10).length, 2);
  t.true(history.recent(10).every((entry) => entry.delivery?.deliveredAt === null));
  t.is(outbox.backlog().pending, 2);
});
