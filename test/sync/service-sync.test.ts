import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { SimulatedIndicators } from '../../src/indicators/simulated.js';
import { Service } from '../../src/service.js';
import { brokerKinds, startBroker, subscriber, type BrokerKind } from '../helpers/brokers.js';
import { DEVICE_ID } from '../helpers/device.js';
import { grayImage } from '../../src/tools/fixtures/images.js';
import { capturedLogger, tempDir, waitFor, workspace } from '../helpers/fixtures.js';
import { assertValidPayload } from '../helpers/schemas.js';

const [kind] = brokerKinds() as [BrokerKind];

async function syncingService(t: import('ava').ExecutionContext, sendIdentifiers: boolean) {
  const broker = await startBroker(t, kind);
  const dashboard = await subscriber(t, broker, `cspine/v1/${DEVICE_ID}/#`);
  const { config } = workspace(t, {
    deviceId: DEVICE_ID,
    sync: {
      sendIdentifiers,
      mqtt: { enabled: true, url: broker.url, protocolVersion: broker.protocolVersion, reconnectMinMs: 50 },
    },
    privacy: { siteSecretFile: path.join(tempDir(t), 'site-secret') },
    jobs: { healthSchedule: '* * * * * *' },
  });
  const log = capturedLogger();
  const service = new Service(config, log.logger, new SimulatedIndicators());
  await service.start();
  t.teardown(() => service.stop());
  return { config, dashboard, service, log };
}


test('the service publishes results and health every tick, all valid, none identifying', async (t) => {
  const { config, dashboard } = await syncingService(t, false);
  fs.writeFileSync(path.join(config.capture.dir, 'DOE_JANE_1970-01-01.png'), await grayImage(115));
  fs.writeFileSync(path.join(config.capture.dir, 'DOE_JANE_notes.png'), 'not an image');
  const on = (name: string) => dashboard.messages.filter((m) => m.topic === `cspine/v1/${DEVICE_ID}/${name}`);
  await waitFor(() => on('result').length === 2, 10_000, 'two results');
  // Ticks come every second: wait for one after the model loaded and both results were acknowledged.
  const settled = (m: { payload: Record<string, unknown> }) => m.payload.model !== null && (m.payload.outbox as { pending: number }).pending === 0;
  await waitFor(() => on('health').some(settled), 8000, 'a health message with the model and an empty outbox');

  const [classified, rejected] = [...on('result')].sort((a, b) => String(a.payload.outcome).localeCompare(String(b.payload.outcome)));
  t.like(classified!.payload, { outcome: 'classified', label: 'fracture', triage: { level: 'RED' }, deviceId: DEVICE_ID });
  t.like(classified!.payload.model, { thresholds: { greenMinNormal: 0.9, redMinAbnormal: 0.6, validatedBy: null } }, 'the thresholds it was read with, not validated');
  t.like(rejected!.payload, { outcome: 'rejected', error: { code: 'E_NOT_AN_IMAGE' }, triage: { level: 'AMBER' } });
  t.like(on('status')[0]!.payload, { state: 'online' });
  // The retained status follows the device state: a model passed its self-test, so ready.
  await waitFor(() => on('status').some((m) => (m.payload.device as { state?: string } | undefined)?.state === 'ready'), 20_000, 'status ready');
  const health = on('health').find(settled)!.payload;
  t.like(health, { deviceId: DEVICE_ID, lamp: { backend: 'simulated' }, outbox: { pending: 0, overLimit: false } });
  t.is((health.model as { id: string }).id, config.model.id);
  t.true(typeof health.uptimeSec === 'number');

  for (const message of dashboard.messages) assertValidPayload(t, message.payload);
  const everything = JSON.stringify(dashboard.messages);
  t.false(everything.includes('DOE'), 'no file name (here: a patient name and birth date) leaves the device');
  t.regex(String((classified!.payload.image as { sourceRef: string }).sourceRef), /^file-[0-9a-f]{32}$/);
});

test('with sync.sendIdentifiers the operator opts in to file names in clear', async (t) => {
  const { config, dashboard } = await syncingService(t, true);
  fs.writeFileSync(path.join(config.capture.dir, 'bed-4.png'), await grayImage(230));
  await waitFor(() => dashboard.messages.some((m) => m.topic.endsWith('/result')), 10_000, 'result');
  const result = dashboard.messages.find((m) => m.topic.endsWith('/result'))!;
  t.is((result.payload.image as { source: string }).source, 'bed-4.png');
  assertValidPayload(t, result.payload);
});

test('a model fault reaches the dashboard as the retained status and as an error event', async (t) => {
  const broker = await startBroker(t, kind);
  const dashboard = await subscriber(t, broker, `cspine/v1/${DEVICE_ID}/#`);
  const { config } = workspace(t, {
    deviceId: DEVICE_ID,
    model: { id: 'not-installed', retryIntervalMs: 60_000 },
    sync: { mqtt: { enabled: true, url: broker.url, protocolVersion: broker.protocolVersion, reconnectMinMs: 50 } },
  });
  const service = new Service(config, capturedLogger().logger, new SimulatedIndicators());
  await service.start();
  t.teardown(() => service.stop());
  const on = (name: string) => dashboard.messages.filter((m) => m.topic === `cspine/v1/${DEVICE_ID}/${name}`);
  await waitFor(() => on('status').some((m) => (m.payload.device as { code?: string } | undefined)?.code === 'E_MODEL_NOT_FOUND'), 20_000, 'status at fault');
  await waitFor(() => on('event').some((m) => m.payload.code === 'E_MODEL_NOT_FOUND'), 20_000, 'the error event');
  t.like(on('status').at(-1)!.payload, { state: 'online', device: { state: 'fault', code: 'E_MODEL_NOT_FOUND' } });
  for (const message of dashboard.messages) assertValidPayload(t, message.payload);
});
