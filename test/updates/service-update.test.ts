import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { ConfigInput } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { sha256Hex } from '../../src/hash.js';
import { SimulatedIndicators } from '../../src/indicators/simulated.js';
import { signManifest } from '../../src/model/signature.js';
import { StartupError } from '../../src/runtime/lifecycle.js';
import { Service } from '../../src/service.js';
import { openDatabase } from '../../src/store/database.js';
import { History } from '../../src/store/history.js';
import { grayImage } from '../../src/tools/fixtures/images.js';
import { brightnessModel, writeModelPackage } from '../../src/tools/fixtures/onnx-models.js';
import { PackagePointer } from '../../src/updates/pointer.js';
import { brokerKinds, startBroker, subscriber, type BrokerKind } from '../helpers/brokers.js';
import { DEVICE_ID } from '../helpers/device.js';
import { capturedLogger, MODEL_ID, tempDir, waitFor, workspace } from '../helpers/fixtures.js';
import { assertValidPayload } from '../helpers/schemas.js';
import { startService } from '../helpers/service.js';
import { writeSigningKeys } from '../helpers/signed-packages.js';
import { startUpdateServer } from '../helpers/update-server.js';

const OLD_SHA = sha256Hex(Buffer.from(brightnessModel()));
const NEW_SHA = sha256Hex(Buffer.from(brightnessModel(24)));
const COMMAND_TOPIC = `cspine/v1/${DEVICE_ID}/command/model`;

/**
 * A device with fleet updates on, its model package signed; a broker with a dashboard
 * stand-in listening to the update topic and sending commands; an HTTP server with the packages.
 */
async function fleet(t: ExecutionContext, updates: NonNullable<ConfigInput['updates']> = {}, kind: BrokerKind = brokerKinds()[0]!) {
  const broker = await startBroker(t, kind);
  const dashboard = await subscriber(t, broker, `cspine/v1/${DEVICE_ID}/update`);
  const server = await startUpdateServer(t);
  const keys = writeSigningKeys(tempDir(t), 'fleet');
  const { root, config } = workspace(t, {
    deviceId: DEVICE_ID,
    model: { trustedKeys: [keys.publicFile] },
    sync: { mqtt: { enabled: true, url: broker.url, protocolVersion: broker.protocolVersion, reconnectMinMs: 50, reconnectMaxMs: 400 } },
    updates: { enabled: true, url: server.url, chunkBytes: 1024, retryMinMs: 50, retryMaxMs: 200, confirmAfterMs: 60_000, ...updates },
  });
  signManifest(path.join(config.model.dir, MODEL_ID), keys.privateFile);
  /** A signed package of the brightness model at `size` px, served by the HTTP server. */
  const publishPackage = (size = 24) => {
    const dir = writeModelPackage(path.join(root, 'dashboard'), { id: `brightness-${size}px`, onnx: brightnessModel(size), size });
    signManifest(dir, keys.privateFile);
    return server.addPackage(dir);
  };
  const send = <Extra extends object>(action: 'install' | 'rollback', extra?: Extra) => {
    const command = { schema: 'cspine.model-command.v1', id: crypto.randomUUID(), deviceId: DEVICE_ID, issuedAt: new Date().toISOString(), action, rolloutId: crypto.randomUUID(), ...(extra as Extra) };
    dashboard.client.publish(COMMAND_TOPIC, JSON.stringify(command), { qos: 1, retain: true });
    return command;
  };
  const install = (size?: number) => send('install', { package: publishPackage(size), download: { token: server.token } });
  const reports = (commandId: string) => dashboard.messages.filter((message) => message.payload.commandId === commandId).map((message) => message.payload);
  const reached = (commandId: string, state: string, timeoutMs = 20_000) => waitFor(() => reports(commandId).find((report) => report.state === state), timeoutMs, `${state} for ${commandId}`);
  return { root, config, broker, dashboard, server, install, send, reports, reached };
}

function history(dbFile: string) {
  const db = openDatabase(dbFile, { readonly: true });
  try {
    return new History(db).recent(1000);
  } finally {
    db.close();
  }
}

for (const kind of brokerKinds()) test(`${kind}: a retained install command: download, self-test and a switch between two images; each image classified once, by the old model or the new, and by the new after the switch`, async (t) => {
  const { config, install, reports, reached } = await fleet(t, { confirmAfterMs: 1000 }, kind);
  const { service, commits, lamps } = await startService(t, config);
  t.is(service.model.model?.sha256, OLD_SHA);
  /** The bus in order: which images started before and after the new model came in. */
  const timeline: Array<{ started: string } | { model: string }> = [];
  service.bus.on('imageStarted', timeline, ({ file }) => timeline.push({ started: file }));
  service.bus.on('modelChanged', timeline, (model) => model && timeline.push({ model: model.sha256 }));

  let dropped = 0;
  let dropping = true;
  const drop = async () => {
    for (; dropping; dropped += 2) {
      // Two at a time: the second is read, hashed and decoded ahead while the first is
      // classified, so the switch also lands between an image decoded ahead and its inference.
      const pair = await Promise.all([dropped, dropped + 1].map((n) => grayImage(230, { seed: n })));
      pair.forEach((bytes, i) => fs.writeFileSync(path.join(config.capture.dir, `image-${dropped + i}.png`), bytes));
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
  };
  const dropper = drop();
  await waitFor(() => commits.length >= 3, 10_000, 'images classified by the old model');
  const command = install();
  await reached(command.id, 'active');
  const atSwitch = dropped;
  await waitFor(() => dropped >= atSwitch + 5, 20_000, 'more images after the switch');
  dropping = false;
  await dropper;
  await waitFor(() => commits.length === dropped, 20_000, 'every image classified');

  const entries = history(config.store.path);
  t.is(entries.length, dropped, 'each image recorded once');
  t.is(new Set(entries.map((entry) => entry.source)).size, dropped);
  const modelOf = new Map(entries.map((entry) => [entry.source, entry.model!.sha256]));
  t.true([...modelOf.values()].every((sha) => sha === OLD_SHA || sha === NEW_SHA));
  const switchedAt = timeline.findIndex((event) => 'model' in event && event.model === NEW_SHA);
  t.true(switchedAt > 0);
  const after = timeline.slice(switchedAt).flatMap((event) => ('started' in event ? [event.started] : []));
  t.true(after.length >= 5);
  t.deepEqual(after.filter((file) => modelOf.get(file) !== NEW_SHA), [], 'every image started after the switch used the new model');
  t.true([...modelOf.values()].includes(OLD_SHA), 'the first images used the old one');
  t.false(lamps.transitions.some((state) => state.level === 'FAULT'), 'no FAULT at any time');
  t.is(service.model.model?.sha256, NEW_SHA);

  await reached(command.id, 'confirmed', 5000);
  const states = reports(command.id).map((report) => report.state);
  t.deepEqual(states.filter((state) => state !== 'downloading'), ['testing', 'active', 'confirmed']);
  t.is(states[0], 'downloading');
  const downloading = reports(command.id).filter((report) => report.state === 'downloading');
  t.true(downloading.length <= 11, `a report per tenth at most, not per chunk (${downloading.length})`);
  t.like(downloading.at(-1), { bytesDone: downloading.at(-1)!.bytesTotal });
  t.like(reports(command.id).find((report) => report.state === 'active'), { model: { id: 'brightness-24px', sha256: NEW_SHA }, packageSha256: command.package.manifestSha256 });
  for (const report of reports(command.id)) assertValidPayload(t, report);
  const pointer = new PackagePointer(path.join(path.dirname(config.store.path), 'updates'), capturedLogger().logger).read();
  t.like(pointer, { confirmed: true, active: { manifestSha256: command.package.manifestSha256, commandId: command.id }, previous: { modelId: MODEL_ID, commandId: null } });
});

test('a download cut by a stop resumes after the restart from the bytes on disk', async (t) => {
  const { config, server, install, reports, reached } = await fleet(t, { stallTimeoutMs: 60_000 });
  let device = await startService(t, config);
  server.faults.push({ file: 'model.onnx', times: 1, kind: 'stall' });
  const command = install();
  const file = `${command.package.manifestSha256}/model.onnx`;
  const part = path.join(path.dirname(config.store.path), 'updates', 'incoming', command.package.manifestSha256, 'model.onnx.part');
  await waitFor(() => (fs.statSync(part, { throwIfNoEntry: false })?.size ?? 0) > 0, 10_000, 'half of the model file on disk');
  t.regex(device.service.capabilityHealth()['model updates']!.detail, /^downloading \d+% of brightness-24px \(package [0-9a-f]{12}…\)$/);
  await device.stop();
  device = await startService(t, config);
  await reached(command.id, 'active');
  t.is(device.service.model.model?.sha256, NEW_SHA);
  const size = command.package.files.find(({ name }) => name === 'model.onnx')!.bytes;
  t.is(server.bytesSent.get(file), size, 'nothing was fetched twice');
  t.is(server.requests.filter((request) => request.file === file).length, 2);
  t.is(reports(command.id).filter((report) => report.state === 'active').length, 1);
});

test('a newer install command replaces one still downloading', async (t) => {
  const { config, server, install, reports, reached } = await fleet(t, { stallTimeoutMs: 60_000 });
  const { service } = await startService(t, config);
  server.faults.push({ file: 'model.onnx', times: 1, kind: 'stall' });
  const first = install(24);
  await waitFor(() => server.requests.some((request) => request.file === `${first.package.manifestSha256}/model.onnx`), 10_000, 'the first package downloading');
  await new Promise((resolve) => setTimeout(resolve, 5)); // a later issuedAt
  const second = install(32);
  const active = await reached(second.id, 'active');
  t.like(active, { model: { id: 'brightness-32px' } });
  t.is(service.model.model?.id, 'brightness-32px');
  t.deepEqual([...new Set(reports(first.id).map((report) => report.state))], ['downloading'], 'the replaced command simply ends');
  t.deepEqual(fs.readdirSync(path.join(path.dirname(config.store.path), 'updates', 'incoming')), [], 'its download is dropped');
});

test('a package whose self-test fails is reported failed; the old model stays in service, the lamps never at FAULT', async (t) => {
  const { config, install, reports, reached } = await fleet(t);
  const { service, lamps } = await startService(t, config);
  // This device once recorded other answers for the new model file: its self-test cannot pass.
  const db = openDatabase(config.store.path);
  db.prepare('INSERT INTO self_test_baselines (model_sha256, probabilities, created_at) VALUES (?, ?, ?)').run(NEW_SHA, JSON.stringify({ normal: 0.01, fracture: 0.98, dislocation: 0.01 }), new Date().toISOString());
  db.close();
  const command = install();
  const failed = await reached(command.id, 'failed');
  t.like(failed, { code: 'E_SELF_TEST_FAILED', model: { sha256: OLD_SHA } });
  t.deepEqual(
    reports(command.id).map((report) => report.state).filter((state) => state !== 'downloading'),
    ['testing', 'failed'],
  );
  t.is(service.model.model?.sha256, OLD_SHA);
  t.false(lamps.transitions.some((state) => state.level === 'FAULT'));
  t.deepEqual(fs.readdirSync(path.join(path.dirname(config.store.path), 'updates', 'packages')), [], 'the failed package is not kept');
  for (const report of reports(command.id)) assertValidPayload(t, report);
});

test('a crash loop (more than maxUnconfirmedStarts starts without confirmation) brings the previous package back, and says so once the broker is back', async (t) => {
  const { config, broker, install, reached, reports } = await fleet(t, { maxUnconfirmedStarts: 2 });
  let device = await startService(t, config);
  const command = install();
  await reached(command.id, 'active');
  t.is(device.service.model.model?.sha256, NEW_SHA);
  for (const start of [1, 2]) {
    await device.stop();
    device = await startService(t, config);
    t.is(device.service.model.model?.sha256, NEW_SHA, `start ${start} of the unconfirmed package is within the limit`);
  }
  await device.stop();
  await broker.stop();
  device = await startService(t, config);
  t.is(device.service.model.model?.sha256, OLD_SHA, 'the third start went back to the previous package');
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.false(reports(command.id).some((report) => report.state === 'rolled-back'));
  await broker.start();
  const rolledBack = await reached(command.id, 'rolled-back');
  t.like(rolledBack, { code: 'E_UPDATE_ROLLED_BACK', packageSha256: command.package.manifestSha256, model: { sha256: OLD_SHA } });
  t.regex(String(rolledBack.message), /started 3 times/);
  assertValidPayload(t, rolledBack);
  // The install command is still retained and comes again at each connect: it is not redone.
  await device.stop();
  device = await startService(t, config);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(device.service.model.model?.sha256, OLD_SHA);
});

test('a new package that no longer loads at a start, before it was confirmed, gives way to the previous one', async (t) => {
  const { config, install, reached } = await fleet(t);
  let device = await startService(t, config);
  const command = install();
  await reached(command.id, 'active');
  await device.stop();
  fs.appendFileSync(path.join(path.dirname(config.store.path), 'updates', 'packages', command.package.manifestSha256, 'model.onnx'), 'damaged');
  device = await startService(t, config);
  t.is(device.service.model.model?.sha256, OLD_SHA);
  t.false(device.lamps.transitions.some((state) => state.level === 'FAULT'), 'the crew never saw a FAULT');
  const rolledBack = await reached(command.id, 'rolled-back');
  t.like(rolledBack, { code: 'E_UPDATE_ROLLED_BACK', model: { sha256: OLD_SHA } });
  t.regex(String(rolledBack.message), /failed to load \(E_MODEL_HASH_MISMATCH/);
});

test('a rollback command restores the package before its rollout, once, also when it comes again after a restart', async (t) => {
  const { config, install, send, reports, reached } = await fleet(t);
  let device = await startService(t, config);
  const installing = install();
  await reached(installing.id, 'active');
  const otherRollout = send('rollback');
  t.regex(String((await reached(otherRollout.id, 'rolled-back')).message), /nothing to undo/);
  t.is(device.service.model.model?.sha256, NEW_SHA, 'a rollback of another rollout changes nothing');
  const rollback = send('rollback', { rolloutId: installing.rolloutId });
  const rolledBack = await reached(rollback.id, 'rolled-back');
  t.like(rolledBack, { code: 'E_UPDATE_ROLLED_BACK', model: { sha256: OLD_SHA } });
  t.false('packageSha256' in rolledBack);
  assertValidPayload(t, rolledBack);
  t.is(device.service.model.model?.sha256, OLD_SHA);
  t.regex(device.service.capabilityHealth()['model updates']!.detail, new RegExp(`^idle; last command ${rollback.id}: rolled-back \\(E_UPDATE_ROLLED_BACK`));
  await device.stop();
  device = await startService(t, config);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(device.service.model.model?.sha256, OLD_SHA);
  t.is(reports(rollback.id).length, 1, 'the retained rollback was not acted on again');
  t.like(device.service.capabilityHealth()['model updates'], { status: 'ok' });
});

test('a command that breaks its schema is reported failed once; one for another device is ignored', async (t) => {
  const { config, dashboard, send, reports, reached } = await fleet(t);
  const { log } = await startService(t, config);
  const broken = send('install');
  const failed = await reached(broken.id, 'failed');
  t.like(failed, { code: 'E_UPDATE_COMMAND_INVALID' });
  t.regex(String(failed.message), /"package" and "download"/);
  const invalid = { schema: 'cspine.model-command.v1', id: crypto.randomUUID(), deviceId: DEVICE_ID, issuedAt: new Date().toISOString(), action: 'reboot', rolloutId: crypto.randomUUID() };
  dashboard.client.publish(COMMAND_TOPIC, JSON.stringify(invalid), { qos: 1, retain: true });
  t.like(await reached(invalid.id, 'failed'), { code: 'E_UPDATE_COMMAND_INVALID' });
  const elsewhere = send('rollback', { deviceId: 'ambulance-9' });
  await waitFor(() => log.lines.some((line) => line.commandId === elsewhere.id && line.level === 40), 20_000, 'the warning');
  t.deepEqual(reports(elsewhere.id), []);
  for (const report of [...reports(broken.id), ...reports(invalid.id)]) assertValidPayload(t, report);
});

test('updates without model.trustedKeys are refused at start with a clear message', async (t) => {
  const { config } = workspace(t, { sync: { mqtt: { enabled: true, url: 'mqtt://127.0.0.1:1' } }, updates: { enabled: true, url: 'https://dashboard.example:8443' } });
  const service = new Service(config, capturedLogger().logger, new SimulatedIndicators());
  const error = await t.throwsAsync(service.start(), { instanceOf: StartupError });
  t.true(error.problem instanceof ConfigError);
  t.regex(error.message, /updates\.enabled needs model\.trustedKeys/);
});
