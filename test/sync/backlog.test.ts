import test from 'ava';
import { Sync } from '../../src/sync/sync.js';
import { recordResults, syncConfig } from '../helpers/device.js';
import { capturedLogger, tempDir } from '../helpers/fixtures.js';
import { openDatabase } from '../../src/store/database.js';
import { History } from '../../src/store/history.js';
import { Outbox } from '../../src/store/outbox.js';

test('past outboxWarnAt the backlog is reported once, in the log and as an event, and nothing is dropped', (t) => {
  const root = tempDir(t);
  // Nothing listens on port 9: the broker stays unreachable.
  const config = syncConfig(root, { url: 'mqtt://127.0.0.1:9', protocolVersion: 4 }, {}, { sync: { outboxWarnAt: 3 } });
  const db = openDatabase(config.store.path);
  t.teardown(() => db.close());
  const outbox = new Outbox(db);
  const history = new History(db, outbox);
  const log = capturedLogger();
  const sync = new Sync(config, outbox, history, log.logger);
  for (let i = 0; i < 6; i++) {
    recordResults(history, 1, i);
    sync.resultQueued();
  }
  const warnings = log.lines.filter((line) => line.code === 'W_OUTBOX_BACKLOG');
  t.is(warnings.length, 1, 'said once per crossing, not once per result');
  t.regex(String(warnings[0]!.msg), /all are kept/);
  const backlog = sync.backlog();
  t.true(backlog.overLimit);
  t.is(backlog.pending, 7, '6 results and the warning event, all kept');
  const event = outbox.pending(10).find((row) => row.kind === 'event')!;
  t.like(JSON.parse(event.payload!), { schema: 'cspine.event.v1', severity: 'warning', code: 'W_OUTBOX_BACKLOG' });
});
