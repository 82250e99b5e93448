import test from 'ava';
import { Pseudonymizer } from '../../src/privacy/pseudonymizer.js';
import { EventBus } from '../../src/runtime/event-bus.js';
import { HistoryStore } from '../../src/store/store.js';
import { Sync } from '../../src/sync/sync.js';
import { recordResults } from '../../src/tools/fixtures/results.js';
import { syncConfig } from '../helpers/device.js';
import { capturedLogger, tempDir } from '../helpers/fixtures.js';

test('past outboxWarnAt the backlog is reported once, in the log and as an event, and nothing is dropped', async (t) => {
  const root = tempDir(t);
  // Nothing listens on port 9: the broker stays unreachable.
  const config = syncConfig(root, { url: 'mqtt://127.0.0.1:9', protocolVersion: 4 }, {}, { sync: { outboxWarnAt: 3 } });
  const store = new HistoryStore(config.store.path, true);
  await store.start();
  const log = capturedLogger();
  const bus = new EventBus(log.logger);
  const sync = new Sync(config, store, new Pseudonymizer(Buffer.alloc(32, 1)), bus, log.logger);
  await sync.start();
  t.teardown(async () => {
    await sync.stop();
    await store.stop();
  });
  for (let i = 0; i < 6; i++) {
    recordResults(store.history, 1, i);
    bus.emit('resultCommitted', { file: `${i}.png`, sha256: String(i), kind: 'classified', triage: { level: 'GREEN', reason: 'normal' }, readyAt: new Date(), committedAt: new Date() });
  }
  const warnings = log.lines.filter((line) => line.code === 'W_OUTBOX_BACKLOG');
  t.is(warnings.length, 1, 'said once per crossing, not once per result');
  t.regex(String(warnings[0]!.msg), /all are kept/);
  const backlog = sync.backlog();
  t.true(backlog.overLimit);
  t.is(backlog.pending, 7, '6 results and the warning event, all kept');
  const event = store.outbox!.pending(10).find((row) => row.kind === 'event')!;
  t.like(JSON.parse(event.payload!), { schema: 'cspine.event.v1', severity: 'warning', code: 'W_OUTBOX_BACKLOG' });
  t.is(sync.health().status, 'degraded');
});
