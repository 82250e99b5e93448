import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import type { Config } from '../src/config/schema.js';
import type { TriageLevel } from '../src/triage/policy.js';
import { openDatabase } from '../src/store/database.js';
import { History } from '../src/store/history.js';
import { referenceImage } from '../src/jobs/self-test.js';
import { SimulatedIndicators } from '../src/indicators/simulated.js';
import { StartupError } from '../src/runtime/lifecycle.js';
import { Service } from '../src/service.js';
import { grayImage } from '../src/tools/fixtures/images.js';
import { capturedLogger, listFiles, MODEL_ID, SHIPPED_MODEL, waitFor, workspace } from './helpers/fixtures.js';
import { png } from '../src/tools/fixtures/quality-images.js';
import { brightnessModel, writeModelPackage } from '../src/tools/fixtures/onnx-models.js';
import { freePort } from './helpers/brokers.js';
import { startService } from './helpers/service.js';

function readHistory(config: Config) {
  const db = openDatabase(config.store.path, { readonly: true });
  try {
    return new History(db).recent(1000);
  } finally {
    db.close();
  }
}

test('a normal radiograph dropped in capture/ is classified, recorded, moved and lit GREEN', async (t) => {
  const { config } = workspace(t);
  const { lamps, commits, finished } = await startService(t, config);
  fs.writeFileSync(path.join(config.capture.dir, 'neck.png'), await grayImage(230));
  await waitFor(() => commits.length === 1, 20_000, 'commit');
  await waitFor(() => finished.length === 1, 20_000, 'the move');

  const [entry] = readHistory(config);
  t.is(entry!.outcome, 'classified');
  t.is(entry!.label, 'normal');
  t.is(entry!.triage.level, 'GREEN');
  t.is(entry!.source, 'neck.png');
  t.is(entry!.model!.id, MODEL_ID);
  t.deepEqual(Object.keys(entry!.timingsMs!), ['decode', 'preprocess', 'infer', 'total']);
  t.deepEqual(listFiles(config.capture.dir), []);
  const today = new Date().toISOString().slice(0, 10);
  t.deepEqual(listFiles(config.capture.processedDir), [`${today}/neck.png`]);
  const levels = lamps.transitions.map((state) => state.level);
  t.deepEqual(levels.slice(-2), ['PROCESSING', 'GREEN']);
});

test('fracture and dislocation light RED, low confidence AMBER', async (t) => {
  const { config } = workspace(t);
  const { lamps, commits } = await startService(t, config);
  const expected: Array<[number, string, TriageLevel]> = [
    [115, 'fracture', 'RED'],
    [30, 'dislocation', 'RED'],
    [150, 'fracture', 'AMBER'],
  ];
  for (const [brightness, label, level] of expected) {
    fs.writeFileSync(path.join(config.capture.dir, `b${brightness}.png`), await grayImage(brightness));
    await waitFor(() => commits.some((c) => c.file === `b${brightness}.png`), 20_000, `b${brightness}`);
    t.is(lamps.current?.level, level);
    const entry = readHistory(config).find((e) => e.source === `b${brightness}.png`);
    t.is(entry?.label, label);
    t.is(entry?.triage.level, level);
  }
});

test('an unreadable file is quarantined with its reason and the service goes on', async (t) => {
  const { config } = workspace(t);
  const { lamps, commits, finished } = await startService(t, config);
  fs.writeFileSync(path.join(config.capture.dir, 'notes.png'), 'this is a text file');
  await waitFor(() => commits.length === 1, 20_000, 'rejection');
  await waitFor(() => finished.length === 1, 20_000, 'the quarantine');
  t.is(lamps.current?.level, 'AMBER');
  t.regex(lamps.current?.reason ?? '', /unreadable image — retake/);
  t.deepEqual(listFiles(config.capture.rejectedDir), ['notes.png', 'notes.png.reason.json']);
  const reason = JSON.parse(fs.readFileSync(path.join(config.capture.rejectedDir, 'notes.png.reason.json'), 'utf8')) as Record<string, string>;
  t.is(reason.code, 'E_NOT_AN_IMAGE');
  t.is(reason.file, 'notes.png');
  const [entry] = readHistory(config);
  t.is(entry!.outcome, 'rejected');
  t.is(entry!.error!.code, 'E_NOT_AN_IMAGE');

  fs.writeFileSync(path.join(config.capture.dir, 'next.png'), await grayImage(230));
  await waitFor(() => commits.length === 2, 20_000, 'the next image');
  t.is(lamps.current?.level, 'GREEN');
});

test('a blank frame is refused by the quality gate: quarantined with its reason, recorded with the code, AMBER "retake"', async (t) => {
  const { config } = workspace(t, { model: SHIPPED_MODEL, quality: { enabled: true } });
  const { lamps, commits, finished } = await startService(t, config);
  fs.writeFileSync(path.join(config.capture.dir, 'exposure.png'), await png({ width: 1024, height: 1280, bits: 8, pixels: new Uint8Array(1024 * 1280) }));
  await waitFor(() => commits.length === 1, 10_000, 'rejection');
  await waitFor(() => finished.length === 1, 20_000, 'the quarantine');
  t.is(commits[0]!.kind, 'rejected');
  t.is(lamps.current?.level, 'AMBER');
  t.is(lamps.current?.reason, 'retake — blank or uniform frame');
  t.deepEqual(listFiles(config.capture.dir), []);
  t.deepEqual(listFiles(config.capture.rejectedDir), ['exposure.png', 'exposure.png.reason.json']);
  const reason = JSON.parse(fs.readFileSync(path.join(config.capture.rejectedDir, 'exposure.png.reason.json'), 'utf8')) as Record<string, string>;
  t.is(reason.code, 'E_QUALITY_BLANK');
  t.regex(reason.message!, /^blank or uniform frame: /);
  const [entry] = readHistory(config);
  t.is(entry!.outcome, 'rejected');
  t.is(entry!.error!.code, 'E_QUALITY_BLANK');
  t.deepEqual(entry!.triage, { level: 'AMBER', reason: 'retake — blank or uniform frame' });

  // A radiograph after it is classified, with the gate's time recorded.
  fs.writeFileSync(path.join(config.capture.dir, 'reference.png'), await referenceImage());
  await waitFor(() => commits.length === 2, 10_000, 'the next image');
  const classified = readHistory(config).find((e) => e.source === 'reference.png');
  t.is(classified?.outcome, 'classified');
  t.deepEqual(Object.keys(classified!.timingsMs!).slice(0, 3), ['decode', 'quality', 'preprocess']);
});

test('the same content twice is recorded once; both files leave capture/', async (t) => {
  const { config } = workspace(t);
  const { commits, finished } = await startService(t, config);
  const bytes = await grayImage(115, { seed: 9 });
  fs.writeFileSync(path.join(config.capture.dir, 'first.png'), bytes);
  await waitFor(() => commits.length === 1, 20_000, 'first');
  fs.writeFileSync(path.join(config.capture.dir, 'copy.png'), bytes);
  await waitFor(() => commits.length === 2 && finished.length === 2, 20_000, 'copy');
  t.deepEqual(commits.map((c) => c.kind), ['classified', 'already-recorded']);
  t.is(commits[1]!.triage.level, 'RED');
  t.is(readHistory(config).length, 1);
  t.deepEqual(listFiles(config.capture.dir), []);
  t.is(listFiles(config.capture.processedDir).length, 2);
});

test('images waiting at start are processed; afterCommit=delete removes classified ones', async (t) => {
  const { config } = workspace(t, { capture: { afterCommit: 'delete' } });
  fs.mkdirSync(config.capture.dir, { recursive: true });
  for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(config.capture.dir, `old${i}.jpg`), await grayImage(230, { format: 'jpeg', seed: i }));
  const { commits, finished } = await startService(t, config);
  await waitFor(() => commits.length === 5 && finished.length === 5, 10_000, 'backlog');
  t.is(readHistory(config).length, 5);
  t.deepEqual(listFiles(config.capture.dir), []);
  t.deepEqual(listFiles(config.capture.processedDir), []);
});

test('with no model the service runs at FAULT, keeps images, and recovers when a model appears', async (t) => {
  const { config } = workspace(t, { model: { id: 'not-installed-yet', retryIntervalMs: 200 } });
  const { lamps, commits, log } = await startService(t, config);
  t.true(fs.existsSync(config.capture.dir), 'the capture folder exists even at FAULT');
  fs.writeFileSync(path.join(config.capture.dir, 'waiting.png'), await grayImage(230));

  t.is(lamps.current?.level, 'FAULT');
  t.regex(lamps.current?.reason ?? '', /no model package at .*not-installed-yet/);
  t.true(log.lines.some((line) => line.code === 'E_MODEL_NOT_FOUND' && String(line.msg).includes('docs/model-package.md')));
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.deepEqual(listFiles(config.capture.dir), ['waiting.png'], 'nothing is rejected or lost while the model is missing');
  t.is(commits.length, 0);

  writeModelPackage(config.model.dir, { id: 'not-installed-yet', onnx: brightnessModel(), size: 16 });
  // Generous: the model's ONNX Runtime thread starts with it, slow on a loaded CI machine.
  await waitFor(() => commits.length === 1, 15_000, 'processing after the model appeared');
  t.is(lamps.current?.level, 'GREEN');
});

test('a corrupt model package is FAULT and nothing is classified', async (t) => {
  const { config } = workspace(t);
  fs.appendFileSync(path.join(config.model.dir, MODEL_ID, 'model.onnx'), 'tampered');
  fs.mkdirSync(config.capture.dir, { recursive: true });
  fs.writeFileSync(path.join(config.capture.dir, 'x.png'), await grayImage(230));
  const { lamps } = await startService(t, config);
  t.is(lamps.current?.level, 'FAULT');
  t.regex(lamps.current?.reason ?? '', /SHA-256/);
  t.false(lamps.transitions.some((state) => state.level === 'GREEN'));
  t.deepEqual(listFiles(config.capture.dir), ['x.png']);
});

test('stop finishes the image in flight and turns the lamps off', async (t) => {
  const { config } = workspace(t);
  const { lamps, commits, stop } = await startService(t, config);
  // Ask to stop at the very moment the image starts processing.
  let stopping: Promise<void> | undefined;
  const show = lamps.show.bind(lamps);
  lamps.show = (state) => {
    show(state);
    if (state.level === 'PROCESSING') stopping ??= stop();
  };
  fs.writeFileSync(path.join(config.capture.dir, 'last.png'), await grayImage(230, { width: 1024, height: 1024 }));
  await waitFor(() => stopping, 20_000, 'processing to start');
  await stopping;
  t.is(commits.length, 1, 'the image in flight was committed before stop returned');
  t.is(lamps.current?.level, 'IDLE');
  t.deepEqual(listFiles(config.capture.dir), []);
});

test('a failed self-test suspends classification (FAULT, images wait) until the model passes again', async (t) => {
  const { config } = workspace(t, { model: { retryIntervalMs: 200 } });
  const { service, lamps, commits } = await startService(t, config);
  t.is(lamps.current?.level, 'IDLE');

  // Corrupt the expectation the self-test compares against, then run the nightly job now.
  const db = openDatabase(config.store.path);
  db.prepare(`UPDATE self_test_baselines SET probabilities = json_set(probabilities, '$.normal', 0.01)`).run();
  await service.model.selfTest();
  t.is(lamps.current?.level, 'FAULT');
  t.regex(lamps.current?.reason ?? '', /E_SELF_TEST_FAILED/);

  fs.writeFileSync(path.join(config.capture.dir, 'during-fault.png'), await grayImage(230));
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(commits.length, 0, 'nothing is classified while the self-test fails');
  t.deepEqual(listFiles(config.capture.dir), ['during-fault.png']);

  // Restoring the baseline lets the next reload pass its self-test and take the waiting image.
  db.prepare('DELETE FROM self_test_baselines').run();
  db.close();
  await waitFor(() => commits.length === 1, 20_000, 'recovery');
  t.is(lamps.current?.level, 'GREEN');
});

test('the acknowledge button: short press records the time and dims the lamp, long press shows it again', async (t) => {
  const { config } = workspace(t);
  const { service, lamps, commits } = await startService(t, config);
  fs.writeFileSync(path.join(config.capture.dir, 'b.png'), await grayImage(30));
  await waitFor(() => commits.length === 1, 20_000, 'result');
  t.like(lamps.current, { level: 'RED', label: 'dislocation' });

  service.frontPanel.acknowledge();
  t.is(lamps.current?.level, 'IDLE');
  const [entry] = readHistory(config);
  t.truthy(entry!.acknowledgedAt);
  service.frontPanel.acknowledge(); // nothing showing: ignored, the first time stays
  t.is(readHistory(config)[0]!.acknowledgedAt, entry!.acknowledgedAt);

  service.frontPanel.showLastResult();
  t.like(lamps.current, { level: 'RED', label: 'dislocation' });
});

test('with a CAM model, each result gets a heatmap overlay beside its history row', async (t) => {
  const { config } = workspace(t, { model: { id: 'cam' } });
  writeModelPackage(config.model.dir, { id: 'cam', onnx: brightnessModel(16, 3, { cam: true }), size: 16, overrides: { outputs: { logits: 'logits', cam: 'cam' } } });
  const { commits, overlays } = await startService(t, config);
  fs.writeFileSync(path.join(config.capture.dir, 'x.png'), await grayImage(230, { width: 120, height: 80 }));
  await waitFor(() => overlays.length === 1, 20_000, 'result and overlay');
  t.deepEqual(listFiles(config.imaging.heatmapDir), [`${commits[0]!.sha256}.jpg`]);
  t.deepEqual(overlays, [commits[0]!.sha256]);
});

test('a self-test failure while an image is in flight: that image finishes, FAULT, no crash, and the next waits until the model passes', async (t) => {
  const { config } = workspace(t, { model: { retryIntervalMs: 300 } });
  const { service, lamps, commits } = await startService(t, config);
  const db = openDatabase(config.store.path);
  t.teardown(() => db.close());
  db.prepare(`UPDATE self_test_baselines SET probabilities = json_set(probabilities, '$.normal', 0.01)`).run();
  let selfTest: Promise<void> | undefined;
  const show = lamps.show.bind(lamps);
  lamps.show = (state) => {
    show(state);
    if (state.level === 'PROCESSING') selfTest ??= service.model.selfTest();
  };
  fs.writeFileSync(path.join(config.capture.dir, 'in-flight.png'), await grayImage(230, { width: 1024, height: 1024 }));
  fs.writeFileSync(path.join(config.capture.dir, 'next.png'), await grayImage(115, { seed: 3 }));
  await waitFor(() => selfTest, 20_000, 'processing to start');
  await selfTest;
  await waitFor(() => commits.length === 1, 20_000, 'the image in flight');
  t.is(commits[0]!.file, 'in-flight.png');
  t.is(lamps.current?.level, 'FAULT', 'the result does not hide the fault');
  t.regex(lamps.current?.reason ?? '', /E_SELF_TEST_FAILED/);
  await new Promise((resolve) => setTimeout(resolve, 700));
  t.deepEqual(listFiles(config.capture.dir), ['next.png'], 'the next image waits while the self-test fails');

  db.prepare('DELETE FROM self_test_baselines').run();
  await waitFor(() => commits.length === 2, 20_000, 'recovery');
  t.is(commits[1]!.file, 'next.png');
  t.is(lamps.current?.level, 'RED');
});

test('with stableWindowMs 0, files still being copied in are classified once complete, never rejected as truncated', async (t) => {
  const { config } = workspace(t, { capture: { stableWindowMs: 0 } });
  const { commits, finished, log } = await startService(t, config);
  const count = 8;
  for (let i = 0; i < count; i++) {
    // Noise makes the PNG about 100 kB, so the copy takes a dozen writes.
    const pixels = Buffer.from(crypto.randomBytes(320 * 320).map((byte) => 200 + (byte % 56)));
    const bytes = await sharp(pixels, { raw: { width: 320, height: 320, channels: 1 } }).png().toBuffer();
    const handle = fs.openSync(path.join(config.capture.dir, `copy${i}.png`), 'w');
    // A slow copy: small writes with pauses, as `cp` from a USB stick or a network share does.
    // The copy stalls once, half-way, for longer than any stability window would wait.
    for (let at = 0; at < bytes.length; at += 8192) {
      fs.writeSync(handle, bytes, at, Math.min(8192, bytes.length - at));
      await new Promise((resolve) => setTimeout(resolve, at === 8192 * 4 ? 300 : 5));
    }
    fs.closeSync(handle);
  }
  await waitFor(() => commits.length === count && finished.length === count, 20_000, 'every copy');
  t.deepEqual(
    commits.map((commit) => commit.kind),
    Array.from({ length: count }, () => 'classified'),
  );
  t.deepEqual(listFiles(config.capture.rejectedDir), []);
  t.true(log.lines.some((line) => String(line.msg).includes('perhaps still being copied in')), 'at least one file was caught mid-copy');
});

test('a failed start (a too-short site secret, receiver and jobs on) stops what had started and names the cause', async (t) => {
  const { config } = workspace(t, { dicom: { receiver: { enabled: true, port: await freePort(), host: '127.0.0.1' } }, jobs: { healthSchedule: '* * * * * *' } });
  fs.mkdirSync(path.dirname(config.privacy.siteSecretFile), { recursive: true });
  fs.writeFileSync(config.privacy.siteSecretFile, 'short');
  const log = capturedLogger();
  const lamps = new SimulatedIndicators();
  const service = new Service(config, log.logger, lamps);
  const error = await t.throwsAsync(service.start(), { instanceOf: StartupError });
  t.is(error?.capability, 'site secret');
  t.is(error?.problem.code, 'E_SITE_SECRET_INVALID');
  t.regex(error?.message ?? '', /privacy|site secret/);
  t.is(lamps.current?.level, 'IDLE');
  t.regex(lamps.current?.reason ?? '', /lamps off/);
  t.is(service.dicomReceiver?.state.state, 'starting', 'the receiver was never started');
  t.false(log.lines.some((line) => line.msg === 'service started'));
});

test('the lamp changes before the overlay is drawn and the file moved; an overlay lost to a crash is drawn again when idle', async (t) => {
  const { config } = workspace(t, { model: { id: 'cam' } });
  writeModelPackage(config.model.dir, { id: 'cam', onnx: brightnessModel(16, 3, { cam: true }), size: 16, overrides: { outputs: { logits: 'logits', cam: 'cam' } } });
  const { service, lamps, commits, finished, overlays } = await startService(t, config);
  // What the crew saw and what was on disk at the moment the lamp changed.
  const atLamp: Array<{ level: string; inCapture: string[]; overlays: string[] }> = [];
  service.bus.on('resultCommitted', atLamp, () => atLamp.push({ level: lamps.current!.level, inCapture: listFiles(config.capture.dir), overlays: listFiles(config.imaging.heatmapDir) }));
  const bytes = await grayImage(230, { width: 400, height: 300 });
  fs.writeFileSync(path.join(config.capture.dir, 'first.png'), bytes);
  await waitFor(() => finished.length === 1 && overlays.length === 1, 20_000, 'first finished and its overlay drawn');
  t.like(atLamp[0], { level: 'GREEN', inCapture: ['first.png'], overlays: [] });
  const overlay = `${commits[0]!.sha256}.jpg`;
  t.deepEqual(listFiles(config.imaging.heatmapDir), [overlay]);

  // A copy of content whose overlay exists owes nothing: the overlay is not drawn again.
  const drawnAt = fs.statSync(path.join(config.imaging.heatmapDir, overlay)).mtimeMs;
  fs.writeFileSync(path.join(config.capture.dir, 'copy.png'), bytes);
  await waitFor(() => finished.length === 2, 20_000, 'the copy finished');
  await new Promise((resolve) => setTimeout(resolve, 600)); // twice the quiet time before overlays are drawn
  t.is(fs.statSync(path.join(config.imaging.heatmapDir, overlay)).mtimeMs, drawnAt);

  // As if the process died after the commit, before the overlay: the same content again is
  // found recorded, and its overlay is drawn once more.
  fs.rmSync(path.join(config.imaging.heatmapDir, overlay));
  fs.writeFileSync(path.join(config.capture.dir, 'again.png'), bytes);
  await waitFor(() => finished.length === 3, 20_000, 'second finished');
  t.is(commits[2]!.kind, 'already-recorded');
  await waitFor(() => listFiles(config.imaging.heatmapDir).length === 1, 20_000, 'the overlay drawn again');
  t.deepEqual(listFiles(config.imaging.heatmapDir), [overlay]);
  t.is(readHistory(config).length, 1, 'nothing recorded twice');
});

test('in a burst every lamp comes before any overlay; the overlays are drawn once nothing has arrived for a while', async (t) => {
  const { config } = workspace(t, { model: { id: 'cam' } });
  writeModelPackage(config.model.dir, { id: 'cam', onnx: brightnessModel(16, 3, { cam: true }), size: 16, overrides: { outputs: { logits: 'logits', cam: 'cam' } } });
  const { service, commits, finished } = await startService(t, config);
  const overlaysAtLamp: number[] = [];
  service.bus.on('resultCommitted', overlaysAtLamp, () => overlaysAtLamp.push(listFiles(config.imaging.heatmapDir).length));
  const staging = path.join(config.capture.dir, '..', 'staging');
  fs.mkdirSync(staging);
  for (let i = 0; i < 12; i++) fs.writeFileSync(path.join(staging, `b${i}.png`), await grayImage(200 + i, { width: 300, height: 200, seed: i }));
  for (let i = 0; i < 12; i++) fs.renameSync(path.join(staging, `b${i}.png`), path.join(config.capture.dir, `b${i}.png`));
  await waitFor(() => commits.length === 12 && finished.length === 12, 10_000, 'every lamp and move');
  t.deepEqual(new Set(overlaysAtLamp), new Set([0]), `overlays drawn at each lamp: ${overlaysAtLamp.join(', ')}`);
  await waitFor(() => listFiles(config.imaging.heatmapDir).length === 12, 10_000, 'every overlay, once idle');
  t.deepEqual(listFiles(config.imaging.heatmapDir), commits.map((commit) => `${commit.sha256}.jpg`).sort());
});
