import path from 'node:path';
import test from 'ava';
import { brokerKinds, startBroker, type BrokerKind } from './helpers/brokers.js';
import { jsonLines, runCli } from './helpers/cli.js';
import { openDatabase } from '../src/store/database.js';
import { grayImage } from '../src/tools/fixtures/images.js';
import { writeScreenVideo } from '../src/tools/fixtures/screen-video.js';
import { configEnv, MODEL_ID, SHIPPED_MODEL, workspace } from './helpers/fixtures.js';
import { startService } from './helpers/service.js';

const [kind] = brokerKinds() as [BrokerKind];

test('doctor checks each part and exits 0 when nothing fails', async (t) => {
  const broker = await startBroker(t, kind);
  const { root, config } = workspace(t);
  const env = {
    ...configEnv(config),
    CSPINE_SYNC__MQTT__ENABLED: 'true',
    CSPINE_SYNC__MQTT__URL: broker.url,
    CSPINE_SYNC__MQTT__PROTOCOL_VERSION: String(broker.protocolVersion),
    CSPINE_PRIVACY__SITE_SECRET_FILE: path.join(root, 'secret'),
  };
  const run = await runCli(['doctor', '--json'], env);
  t.is(run.code, 0, run.stdout + run.stderr);
  const checks = Object.fromEntries(jsonLines(run.stdout).map((check) => [check.name, check]));
  t.deepEqual(Object.keys(checks), ['capture folder', 'model', 'model signature', 'ood detector', 'thresholds', 'history database', 'disk', 'lamps', 'mqtt', 'dicom receiver', 'camera', 'service']);
  t.like(checks.thresholds, { status: 'warn' });
  t.regex(String(checks.thresholds!.detail), /^greenMinNormal 0\.9, redMinAbnormal 0\.6: not validated on this site's films .*model validate/);
  t.like(checks.service, { status: 'warn' });
  t.regex(String(checks.service!.detail), /^not running/);
  // The test package has no OOD statistics: a warning, not a failure.
  t.like(checks['ood detector'], { status: 'warn' });
  t.regex(String(checks['ood detector']!.detail), /^unguarded: .*model ood-calibrate/);
  t.like(checks['dicom receiver'], { status: 'ok', detail: 'off (dicom.receiver.enabled: false)' });
  t.like(checks.camera, { status: 'ok', detail: 'off (capture.camera.enabled: false)' });
  t.like(checks.model, { status: 'ok' });
  t.regex(String(checks.model!.detail), /verified, loads and runs/);
  t.like(checks['model signature'], { status: 'ok', detail: 'unsigned (model.trustedKeys empty, so not required; fleet updates are refused)' });
  t.like(checks.mqtt, { status: 'ok' });
  t.like(checks['history database'], { status: 'warn' }, 'not created until the service first runs');
});

test('doctor reports the shipped package as guarded by its verified OOD statistics', async (t) => {
  const { config } = workspace(t, { model: SHIPPED_MODEL });
  const run = await runCli(['doctor', '--json'], configEnv(config));
  const check = jsonLines(run.stdout).find((line) => line.name === 'ood detector');
  t.like(check, { status: 'ok' });
  t.regex(String(check!.detail), /^guarded: msp\+pca-residual, 128 components of 9216 features, calibrated on 3000 images .*statistics verified; orientation search on/);
});

test('doctor names what is broken and exits 1', async (t) => {
  const { config } = workspace(t, { model: { id: 'missing-model' } });
  const env = { ...configEnv(config), CSPINE_SYNC__MQTT__ENABLED: 'true', CSPINE_SYNC__MQTT__URL: 'mqtt://127.0.0.1:9', CSPINE_SYNC__MQTT__CONNECT_TIMEOUT_MS: '1000' };
  const run = await runCli(['doctor'], env);
  t.is(run.code, 1);
  t.regex(run.stdout, /\[FAIL\] model\s+E_MODEL_NOT_FOUND/);
  t.regex(run.stdout, /\[FAIL\] mqtt\s+mqtt:\/\/127\.0\.0\.1:9/);
  t.regex(run.stdout, /\[ ok \] lamps\s+simulated/);
});

test('doctor reads the running service: its device state and capabilities, FAULT as a failure, and a clean stop', async (t) => {
  const { config } = workspace(t);
  const service = await startService(t, config);
  const serviceLine = async () => jsonLines((await runCli(['doctor', '--json'], configEnv(config))).stdout).find((line) => line.name === 'service');
  const ready = await serviceLine();
  t.like(ready, { status: 'ok' });
  t.regex(String(ready!.detail), new RegExp(`^pid ${process.pid} ready, model ${MODEL_ID} since .*; 8 capabilities, all well$`));

  // The nightly self-test fails: FAULT, and doctor says so with the code.
  const db = openDatabase(config.store.path);
  db.prepare(`UPDATE self_test_baselines SET probabilities = json_set(probabilities, '$.normal', 0.01)`).run();
  db.close();
  await service.service.model.selfTest();
  const fault = await serviceLine();
  t.like(fault, { status: 'fail' });
  t.regex(String(fault!.detail), /at FAULT: E_SELF_TEST_FAILED/);

  await service.stop();
  const stopped = await serviceLine();
  t.like(stopped, { status: 'warn' });
  t.regex(String(stopped!.detail), /^not running \(last seen /);
});

test('doctor shows the camera: what the input is while no service holds it, and an input that cannot be opened', async (t) => {
  const { root, config } = workspace(t);
  const video = path.join(root, 'screen.mkv');
  await writeScreenVideo(video, [{ image: await grayImage(120, { width: 64, height: 64 }), seconds: 1 }], { width: 320, height: 240, fps: 5 });
  const found = await runCli(['doctor', '--json'], { ...configEnv(config), CSPINE_CAPTURE__CAMERA__ENABLED: 'true', CSPINE_CAPTURE__CAMERA__INPUT: video });
  const camera = jsonLines(found.stdout).find((line) => line.name === 'camera');
  t.like(camera, { status: 'ok' });
  t.regex(String(camera!.detail), /screen\.mkv found: matroska.* h264 320×240 at 5\.0 fps/);

  const missing = await runCli(['doctor', '--json'], { ...configEnv(config), CSPINE_CAPTURE__CAMERA__ENABLED: 'true', CSPINE_CAPTURE__CAMERA__INPUT: path.join(root, 'no-such-camera') });
  t.is(missing.code, 1);
  t.like(
    jsonLines(missing.stdout).find((line) => line.name === 'camera'),
    { status: 'fail' },
  );
});

