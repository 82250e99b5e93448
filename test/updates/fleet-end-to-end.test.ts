/**
 * Fleet updates with every part real and in its own process: two devices (`cspine-edge run`),
 * Mosquitto, the dashboard (`cspine-edge dashboard`) with PostgreSQL, and the admin's CLI. One
 * story, in order: a canary then the rest (one device offline while it is sent), a package that
 * fails its self-test on the device, a package whose file was changed on the dashboard's disk, a
 * package signed by a key the devices do not trust, and a rollback from the dashboard.
 */
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { sha256Hex } from '../../src/hash.js';
import { signManifest } from '../../src/model/signature.js';
import { grayImage } from '../../src/tools/fixtures/images.js';
import { brightnessModel, writeModelPackage } from '../../src/tools/fixtures/onnx-models.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { startBroker, type TestBroker } from '../helpers/brokers.js';
import { runCli } from '../helpers/cli.js';
import { configEnv, MODEL_ID, tempDir, workspace } from '../helpers/fixtures.js';
import { dashboardEnv, healthy, startProcess, until, type RunningProcess } from '../helpers/processes.js';
import { writeSigningKeys, type KeyFiles } from '../helpers/signed-packages.js';

const ORIGINAL_SHA = sha256Hex(Buffer.from(brightnessModel()));

let postgres: TemporaryPostgres;
test.before(async () => {
  postgres = await TemporaryPostgres.create('postgres_fleet');
  await postgres.query('postgres', 'CREATE DATABASE fleet');
});
test.after.always(async () => {
  await postgres?.destroy();
});
const sql = async (query: string) => (await postgres.query('fleet', query)).trim();

/** A signed package of the brightness model at `size` px with one reference image expecting `expected` (GREEN for a bright image, unless told otherwise). */
async function buildPackage(root: string, key: KeyFiles, id: string, size: number, expected: 'GREEN' | 'RED' = 'GREEN'): Promise<{ dir: string; sha: string; modelSha: string }> {
  const onnx = brightnessModel(size);
  const reference = await grayImage(230, { seed: size });
  const probabilities = { normal: 1, fracture: 0, dislocation: 0 };
  const dir = writeModelPackage(root, {
    id,
    onnx,
    size,
    overrides: {
      selfTest: { tolerance: 0.02, references: [{ file: 'reference/bright.png', sha256: sha256Hex(reference), expected: { level: expected, label: expected === 'GREEN' ? 'normal' : 'fracture', probabilities } }] },
    },
  });
  fs.mkdirSync(path.join(dir, 'reference'));
  fs.writeFileSync(path.join(dir, 'reference', 'bright.png'), reference);
  signManifest(dir, key.privateFile);
  return { dir, sha: sha256Hex(fs.readFileSync(path.join(dir, 'manifest.json'))), modelSha: sha256Hex(Buffer.from(onnx)) };
}

interface Device {
  id: string;
  captureDir: string;
  start(): RunningProcess;
  /** Drops an image of its own and waits for its result at the dashboard: the model sha it was classified with. */
  classify(): Promise<string>;
}

function device(t: ExecutionContext, id: string, seed: number, broker: TestBroker, dashboardUrl: string, key: KeyFiles): Device {
  const { config } = workspace(t);
  signManifest(path.join(config.model.dir, MODEL_ID), key.privateFile);
  fs.mkdirSync(config.capture.dir, { recursive: true });
  const env = {
    ...configEnv(config),
    CSPINE_DEVICE_ID: id,
    CSPINE_MODEL__TRUSTED_KEYS: JSON.stringify([key.publicFile]),
    CSPINE_SYNC__MQTT__ENABLED: 'true',
    CSPINE_SYNC__MQTT__URL: broker.url,
    CSPINE_SYNC__MQTT__RECONNECT_MIN_MS: '100',
    CSPINE_UPDATES__ENABLED: 'true',
    CSPINE_UPDATES__URL: dashboardUrl,
    CSPINE_UPDATES__RETRY_MIN_MS: '100',
    CSPINE_UPDATES__RETRY_MAX_MS: '1000',
    CSPINE_UPDATES__CONFIRM_AFTER_MS: '1000',
  };
  let images = 0;
  return {
    id,
    captureDir: config.capture.dir,
    start: () => startProcess(t, ['run'], env),
    async classify() {
      const image = await grayImage(225, { seed: seed * 1000 + images });
      const name = `${id}-${images++}.png`;
      fs.writeFileSync(path.join(config.capture.dir, name), image);
      const sha = sha256Hex(image);
      return until(async () => (await sql(`SELECT model_sha256 FROM results WHERE device_id = '${id}' AND payload->'image'->>'sha256' = '${sha}'`)) || undefined, `the result of ${name} at the dashboard`);
    },
  };
}

async function stop(process: RunningProcess): Promise<void> {
  const exited = new Promise((resolve) => process.child.once('exit', resolve));
  process.child.kill('SIGTERM');
  await exited;
}

/** `column` of the device's row in its newest rollout. */
const rolloutDevice = async (deviceId: string, column: string) => sql(`SELECT d.${column} FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id WHERE d.device_id = '${deviceId}' ORDER BY r.created_at DESC LIMIT 1`);
const latestRollout = async (column: string) => sql(`SELECT ${column} FROM rollouts ORDER BY created_at DESC LIMIT 1`);

test.serial('canary then the rest, an offline device updated when it returns; bad packages refused on the device and the rollout halted; rollback from the dashboard', async (t) => {
  t.timeout(180_000);
  const broker = await startBroker(t, 'mosquitto');
  const key = writeSigningKeys(tempDir(t), 'fleet');
  const stranger = writeSigningKeys(tempDir(t), 'stranger');
  const packages = tempDir(t);
  const env = {
    ...(await dashboardEnv(postgres, broker, 'fleet')),
    CSPINE_DASHBOARD__UPDATES__DIR: path.join(packages, 'store'),
    CSPINE_DASHBOARD__UPDATES__TRUSTED_KEYS: JSON.stringify([key.publicFile, stranger.publicFile]),
  };
  const admin = async (...args: string[]) => {
    const run = await runCli(['dashboard', ...args], env);
    t.is(run.code, 0, `dashboard ${args.join(' ')}: ${run.stderr}`);
    return run.stdout;
  };
  const dashboard = startProcess(t, ['dashboard'], env);
  await until(() => healthy(env.url), `the dashboard (${dashboard.output()})`);

  const canary = device(t, 'amb-1', 1, broker, env.url, key);
  const other = device(t, 'amb-2', 2, broker, env.url, key);
  const canaryProcess = canary.start();
  let otherProcess = other.start();
  t.is(await canary.classify(), ORIGINAL_SHA);
  t.is(await other.classify(), ORIGINAL_SHA);
  await stop(otherProcess);
  await until(async () => (await sql(`SELECT state FROM devices WHERE device_id = 'amb-2'`)) === 'offline', 'amb-2 offline at the dashboard');

  // 1. A good package: the canary first, then (automatically) the other, which is offline.
  const good = await buildPackage(path.join(packages, 'built'), key, 'brightness-v2', 24);
  await admin('package', 'add', good.dir);
  const started = Date.now();
  await admin('rollout', 'create', '--package', good.sha.slice(0, 12), '--devices', 'amb-1,amb-2', '--canary', 'amb-1');
  await until(async () => (await rolloutDevice('amb-1', 'state')) === 'confirmed', `the canary confirmed (${canaryProcess.output().slice(-2000)})`);
  t.log(`canary: rollout → confirmed in ${Date.now() - started} ms`);
  t.is(await canary.classify(), good.modelSha, 'the canary classifies with the new model');
  await until(async () => (await rolloutDevice('amb-2', 'sent_at')) !== '', 'the command for the offline device sent (retained at the broker)');
  t.is(await rolloutDevice('amb-2', 'state'), 'sent');
  t.is(await latestRollout('state'), 'rolling');
  otherProcess = other.start();
  await until(async () => (await rolloutDevice('amb-2', 'state')) === 'confirmed', `the returning device confirmed (${otherProcess.output().slice(-2000)})`);
  t.is(await latestRollout('state'), 'complete');
  t.is(await other.classify(), good.modelSha);
  const goodRollout = await latestRollout('id');

  // 2. A package whose own reference image does not get the lamp its manifest expects.
  const failing = await buildPackage(path.join(packages, 'built'), key, 'brightness-v3', 20, 'RED');
  await admin('package', 'add', failing.dir);
  await admin('rollout', 'create', '--package', failing.sha, '--devices', 'amb-1', '--canary-percent', '0');
  await until(async () => (await rolloutDevice('amb-1', 'state')) === 'failed', 'the self-test failure reported');
  t.is(await rolloutDevice('amb-1', 'code'), 'E_SELF_TEST_FAILED');
  t.is(await latestRollout('state'), 'halted');
  t.regex(await latestRollout('reason'), /amb-1/);
  t.is(await canary.classify(), good.modelSha, 'the model in service never stopped');

  // 3. A package whose model file changed on the dashboard's disk after it was added.
  const tampered = await buildPackage(path.join(packages, 'built'), key, 'brightness-v4', 28);
  await admin('package', 'add', tampered.dir);
  const stored = path.join(packages, 'store', tampered.sha, 'model.onnx');
  const bytes = fs.readFileSync(stored);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  fs.writeFileSync(stored, bytes);
  await admin('rollout', 'create', '--package', tampered.sha, '--devices', 'amb-2', '--canary-percent', '0');
  await until(async () => (await rolloutDevice('amb-2', 'state')) === 'failed', 'the tampered file refused');
  t.is(await rolloutDevice('amb-2', 'code'), 'E_UPDATE_FILE_HASH_MISMATCH');
  t.is(await latestRollout('state'), 'halted');

  // 4. A package signed by a key the dashboard accepts but the devices do not.
  const foreign = await buildPackage(path.join(packages, 'built'), stranger, 'brightness-v5', 32);
  await admin('package', 'add', foreign.dir);
  await admin('rollout', 'create', '--package', foreign.sha, '--devices', 'amb-1', '--canary-percent', '0');
  await until(async () => (await rolloutDevice('amb-1', 'state')) === 'failed', 'the untrusted signature refused');
  t.is(await rolloutDevice('amb-1', 'code'), 'E_MODEL_KEY_UNTRUSTED');
  t.is(await canary.classify(), good.modelSha);

  // 5. The good rollout rolled back from the dashboard: both devices back on the original model.
  const rollingBack = Date.now();
  await admin('rollout', 'rollback', goodRollout);
  const state = (deviceId: string) => sql(`SELECT state FROM rollout_devices WHERE rollout_id = '${goodRollout}' AND device_id = '${deviceId}'`);
  await until(async () => (await state('amb-1')) === 'rolled-back' && (await state('amb-2')) === 'rolled-back', 'both devices rolled back');
  t.log(`rollback: command → both devices back in ${Date.now() - rollingBack} ms`);
  t.is(await sql(`SELECT state FROM rollouts WHERE id = '${goodRollout}'`), 'rolled-back');
  t.is(await canary.classify(), ORIGINAL_SHA);
  t.is(await other.classify(), ORIGINAL_SHA);
  t.is(await sql(`SELECT count(*) FROM dead_letters`), '0', 'every message the devices sent was valid');
});
