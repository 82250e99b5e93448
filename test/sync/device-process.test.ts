import path from 'node:path';
import test from 'ava';
import type { Config } from '../../src/config/schema.js';
import { openDatabase } from '../../src/store/database.js';
import { History } from '../../src/store/history.js';
import { Outbox } from '../../src/store/outbox.js';
import { brokerKinds, startBroker, subscriber, type BrokerKind } from '../helpers/brokers.js';
import { collect, spawnCli } from '../helpers/cli.js';
import { recordResults } from '../../src/tools/fixtures/results.js';
import { DEVICE_ID, syncConfig } from '../helpers/device.js';
import { configEnv, tempDir, waitFor, workspace } from '../helpers/fixtures.js';
import { assertValidPayload } from '../helpers/schemas.js';

function syncEnv(config: Config): NodeJS.ProcessEnv {
  const { mqtt } = config.sync;
  return {
    CSPINE_DEVICE_ID: config.deviceId,
    CSPINE_SYNC__MQTT__ENABLED: 'true',
    CSPINE_SYNC__MQTT__URL: mqtt.url,
    CSPINE_SYNC__MQTT__PROTOCOL_VERSION: String(mqtt.protocolVersion),
    CSPINE_SYNC__MQTT__RECONNECT_MIN_MS: String(mqtt.reconnectMinMs),
    CSPINE_SYNC__MQTT__RECONNECT_MAX_MS: String(mqtt.reconnectMaxMs),
    CSPINE_SYNC__MQTT__INFLIGHT_WINDOW: String(mqtt.inflightWindow),
    CSPINE_PRIVACY__SITE_SECRET_FILE: config.privacy.siteSecretFile,
    CSPINE_STORE__PATH: config.store.path,
  };
}

const [firstKind] = brokerKinds() as [BrokerKind];

for (const kind of brokerKinds()) {
  test(`${kind}: the device process killed → subscribers see status offline via the last will`, async (t) => {
    const broker = await startBroker(t, kind);
    const dashboard = await subscriber(t, broker, `cspine/v1/${DEVICE_ID}/#`);
    const { config } = workspace(t, { model: { id: 'not-installed' } }); // FAULT: also sends an event
    const device = spawnCli(['run'], { ...configEnv(config), ...syncEnv(syncConfig(path.dirname(config.store.path), broker)) });
    const finished = collect(device);
    const statuses = () => dashboard.messages.filter((m) => m.topic.endsWith('/status')).map((m) => m.payload.state);
    await waitFor(() => statuses().includes('online'), 15_000, 'online status');
    await waitFor(() => dashboard.messages.some((m) => m.topic.endsWith('/event')), 15_000, 'the FAULT event');
    device.kill('SIGKILL');
    await finished;
    await waitFor(() => statuses().at(-1) === 'offline', 10_000, 'last will');
    const event = dashboard.messages.find((m) => m.topic.endsWith('/event'))!;
    t.like(event.payload, { severity: 'error', code: 'E_MODEL_NOT_FOUND', deviceId: DEVICE_ID });
    for (const message of dashboard.messages) assertValidPayload(t, message.payload);
  });
}

test(`device SIGKILLed mid-drain → after restart nothing is lost (${firstKind})`, async (t) => {
  const TOTAL = 4000;
  const broker = await startBroker(t, firstKind);
  const dashboard = await subscriber(t, broker, `cspine/v1/${DEVICE_ID}/result`);
  const root = tempDir(t);
  const config = syncConfig(root, broker, { inflightWindow: 4 });
  const db = openDatabase(config.store.path);
  recordResults(new History(db, new Outbox(db)), TOTAL);
  db.close();

  const env = { ...syncEnv(config), CSPINE_MODEL__DIR: path.join(root, 'models'), CSPINE_CAPTURE__DIR: path.join(root, 'capture'), CSPINE_INDICATORS__RENDER: 'false', CSPINE_INDICATORS__LAMP_TEST_AT_START: 'false' };
  const first = spawnCli(['run'], env);
  const firstDone = collect(first);
  await waitFor(() => dashboard.uniqueIds.size >= 200, 30_000, 'the drain to start');
  first.kill('SIGKILL');
  await firstDone;
  const atKill = dashboard.uniqueIds.size;
  t.true(atKill < TOTAL, 'killed mid-drain');

  const second = spawnCli(['run'], env);
  const secondDone = collect(second);
  await waitFor(() => dashboard.uniqueIds.size === TOTAL, 60_000, `all ${TOTAL} results`);
  second.kill('SIGTERM');
  t.is((await secondDone).code, 0);

  const after = openDatabase(config.store.path, { readonly: true });
  t.teardown(() => after.close());
  t.is(new Outbox(after).backlog().pending, 0);
  t.log(`${atKill} delivered before SIGKILL; ${dashboard.messages.length} messages for ${TOTAL} results`);
});
