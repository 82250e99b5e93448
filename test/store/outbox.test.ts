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

test('receipts: a row is sent again only when acknowledged long enough ago and something sent after it was confirmed', (t) => {
  const { outbox, history } = store(t);
  recordResults(history, 4);
  const rows = outbox.pending(10);
  const at = (second: number) => new Date(Date.UTC(2026, 11, 2, 12, 0, second));
  outbox.markDelivered([rows[0]!.id, rows[1]!.id], at(0));
  outbox.markDelivered([rows[2]!.id], at(10));
  t.is(outbox.awaitingReceipt(), 3);
  t.is(outbox.requeueUnconfirmed(at(60)), 0, 'no receipt at all (dashboard down): nothing is sent again');

  t.is(outbox.markStored([rows[2]!.messageId, 'unknown-id']), 1, 'a receipt for the row delivered at 10 s');
  t.is(outbox.requeueUnconfirmed(at(0)), 0, 'not acknowledged long enough ago');
  t.is(outbox.requeueUnconfirmed(at(5)), 2, 'the two before the confirmed one');
  t.deepEqual(outbox.pending(10).map((row) => row.id), [rows[0]!.id, rows[1]!.id, rows[3]!.id]);
  t.is(outbox.awaitingReceipt(), 0);

  outbox.markStored([rows[3]!.messageId], at(20));
  t.is(outbox.backlog().pending, 2, 'a receipt that overtakes the PUBACK record counts as delivered too');
  outbox.markDelivered([rows[0]!.id, rows[1]!.id], at(30));
  t.is(outbox.requeueUnconfirmed(at(60)), 0, 'the newest confirmed was delivered before them');
  t.is(outbox.requeueUnconfirmed(at(60), at(31).toISOString()), 2, 'a heartbeat sent after them and confirmed moves the mark');
});
