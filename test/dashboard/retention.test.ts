import test from 'ava';
import { configSchema } from '../../src/config/schema.js';
import { DashboardDatabase } from '../../src/dashboard/database/database.js';
import { pruneDashboard } from '../../src/dashboard/database/retention.js';
import { writeBatch } from '../../src/dashboard/ingest/ingest-writer.js';
import type { AcceptedMessage } from '../../src/dashboard/ingest/messages.js';
import { createLogger } from '../../src/logger.js';
import { simulatedHealth, simulatedResult, type Level } from '../../src/tools/fixtures/payloads.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';

const DAY = 86_400_000;

function accepted(kind: AcceptedMessage['kind'], body: { deviceId: string }): AcceptedMessage {
  return { topic: `cspine/v1/${body.deviceId}/${kind}`, kind, deviceId: body.deviceId, body: body as unknown as Record<string, unknown>, retained: false, receivedAt: new Date() };
}

test('retention deletes what is past its days, never an unacknowledged RED result', async (t) => {
  const postgres = await TemporaryPostgres.create();
  t.teardown(() => postgres.destroy());
  const settings = configSchema.parse({ dashboard: { postgres: { url: postgres.url() } } }).dashboard;
  const database = new DashboardDatabase(settings.postgres, createLogger('silent'));
  await database.start();
  t.teardown(() => database.stop());
  const now = new Date();
  const result = (level: Level, daysAgo: number) => accepted('result', simulatedResult('amb-1', level, { processedAt: new Date(now.getTime() - daysAgo * DAY) }));
  const oldRed = result('RED', 400);
  const oldAcknowledgedRed = result('RED', 400);
  await writeBatch(
    database.pool,
    [
      result('GREEN', 400),
      result('AMBER', 366),
      result('GREEN', 10),
      oldRed,
      oldAcknowledgedRed,
      accepted('health', simulatedHealth('amb-1', { at: new Date(now.getTime() - 15 * DAY) })),
      accepted('health', simulatedHealth('amb-1', { at: new Date(now.getTime() - 13 * DAY) })),
    ],
    [],
  );
  await database.pool.query(`UPDATE results SET acknowledged_by = 'dr.lee', acknowledged_at = now() WHERE id = $1`, [(oldAcknowledgedRed.body as { id: string }).id]);

  const pruned = await pruneDashboard(database.pool, settings.retention, now);
  t.like(pruned, { results: 3, health: 1 });
  const { rows } = await database.pool.query<{ id: string; level: string }>('SELECT id, level FROM results ORDER BY processed_at');
  t.deepEqual(
    rows.map((row) => row.level),
    ['RED', 'GREEN'],
  );
  t.is(rows[0]!.id, (oldRed.body as { id: string }).id, 'the RED result nobody acknowledged stays');
});
