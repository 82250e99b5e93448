/**
 * A fleet update as an ambulance on a cellular link gets it: the device (`cspine-edge run`) in
 * its own network namespace, the broker and the dashboard (`cspine-edge dashboard`, with
 * PostgreSQL) on this side, joined by a veth pair that drops 30% of the packets each way and,
 * in the middle of the download, nothing at all for 60 s. Images keep arriving throughout.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { sha256Hex } from '../../src/hash.js';
import { signManifest } from '../../src/model/signature.js';
import { grayImage } from '../../src/tools/fixtures/images.js';
import { brightnessModel, writeModelPackage } from '../../src/tools/fixtures/onnx-models.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { ShapedLink, shapedLinkUnavailable } from '../../src/tools/services/shaped-link.js';
import { startBroker } from '../helpers/brokers.js';
import { runCli } from '../helpers/cli.js';
import { configEnv, MODEL_ID, tempDir, workspace } from '../helpers/fixtures.js';
import { dashboardEnv, healthy, startProcess, until } from '../helpers/processes.js';
import { writeSigningKeys } from '../helpers/signed-packages.js';

const DEVICE = 'ambulance-12';
/** Large enough that the partition falls inside the download at this link's pace. */
const NEW_MODEL_BYTES = 6 * 1024 * 1024;
const PARTITION_MS = 60_000;

const unavailable = shapedLinkUnavailable();
if (unavailable && process.env.CI) throw new Error(`a shaped link cannot be made in CI: ${unavailable}`);
const linkTest = unavailable ? test.skip : test;

linkTest(`${unavailable ? `(${unavailable}) ` : ''}30% loss and a 60 s partition in the middle of an update: it completes once, results keep flowing, nothing lost or doubled`, async (t) => {
  t.timeout(240_000);
  const link = await ShapedLink.create();
  t.teardown(() => link.close());
  const postgres = await TemporaryPostgres.create('postgres_link');
  t.teardown(() => postgres.destroy());
  await postgres.query('postgres', 'CREATE DATABASE fleet');
  const sql = async (query: string) => (await postgres.query('fleet', query)).trim();
  const broker = await startBroker(t, 'mosquitto', { alsoOn: link.hostAddress });

  const keys = writeSigningKeys(tempDir(t), 'fleet');
  const dashboard = await dashboardEnv(postgres, broker, 'fleet', link.hostAddress);
  const packagesDir = tempDir(t);
  const dashboardSettings = {
    ...dashboard,
    CSPINE_DASHBOARD__UPDATES__DIR: path.join(packagesDir, 'store'),
    CSPINE_DASHBOARD__UPDATES__TRUSTED_KEYS: JSON.stringify([keys.publicFile]),
  };
  const newModel = brightnessModel(24, 3, { ballastBytes: NEW_MODEL_BYTES });
  const newPackage = writeModelPackage(path.join(packagesDir, 'built'), { id: 'brightness-v2', onnx: newModel, size: 24 });
  signManifest(newPackage, keys.privateFile);
  const added = await runCli(['dashboard', 'package', 'add', newPackage], dashboardSettings);
  t.is(added.code, 0, added.stderr);
  startProcess(t, ['dashboard'], dashboardSettings);
  await until(() => healthy(dashboard.url), 'the dashboard');

  const { config } = workspace(t);
  signManifest(path.join(config.model.dir, MODEL_ID), keys.privateFile);
  fs.mkdirSync(config.capture.dir, { recursive: true });
  const brokerPort = new URL(broker.url).port;
  const device = startProcess(
    t,
    ['run'],
    {
      ...configEnv(config),
      CSPINE_DEVICE_ID: DEVICE,
      CSPINE_MODEL__TRUSTED_KEYS: JSON.stringify([keys.publicFile]),
      CSPINE_SYNC__MQTT__ENABLED: 'true',
      CSPINE_SYNC__MQTT__URL: `mqtt://${link.hostAddress}:${brokerPort}`,
      CSPINE_SYNC__MQTT__KEEPALIVE_SEC: '5',
      CSPINE_SYNC__MQTT__RECONNECT_MIN_MS: '200',
      CSPINE_SYNC__MQTT__RECONNECT_MAX_MS: '2000',
      CSPINE_UPDATES__ENABLED: 'true',
      CSPINE_UPDATES__URL: dashboard.url,
      CSPINE_UPDATES__CHUNK_BYTES: String(256 * 1024),
      CSPINE_UPDATES__STALL_TIMEOUT_MS: '3000',
      CSPINE_UPDATES__RETRY_MIN_MS: '200',
      CSPINE_UPDATES__RETRY_MAX_MS: '2000',
      CSPINE_UPDATES__CONFIRM_AFTER_MS: '2000',
    },
    (command) => link.inside(command),
  );
  await until(async () => (await sql(`SELECT state FROM devices WHERE device_id = '${DEVICE}'`)) === 'online', `the device online at the dashboard (${device.output().slice(-1500)})`, 60_000);

  // Images arrive all along: one every 400 ms, each its own content.
  let dropped = 0;
  const dropping = setInterval(() => {
    const n = dropped++;
    void grayImage(40 + (n % 200), { seed: n }).then((image) => fs.writeFileSync(path.join(config.capture.dir, `img-${n}.png`), image));
  }, 400);
  t.teardown(() => clearInterval(dropping));

  await link.shape({ lossPercent: 30, rateKbit: 4000 });
  const started = Date.now();
  const created = await runCli(['dashboard', 'rollout', 'create', '--package', sha256Hex(fs.readFileSync(path.join(newPackage, 'manifest.json'))), '--devices', DEVICE, '--canary-percent', '0'], dashboardSettings);
  t.is(created.code, 0, created.stderr);
  const progress = async () => (await sql(`SELECT state || ' ' || coalesce(bytes_done, 0) || ' ' || coalesce(bytes_total, 0) FROM rollout_devices WHERE device_id = '${DEVICE}'`)).split(' ');
  await until(async () => {
    const [state, done, total] = await progress();
    return state === 'downloading' && Number(done) > 0 && Number(done) < Number(total);
  }, `the download under way (${device.output().slice(-1500)})`, 90_000);
  const [, doneAtCut, total] = await progress();
  t.log(`partitioned at ${doneAtCut} of ${total} bytes, ${Date.now() - started} ms after the rollout`);
  await link.partition();
  await new Promise((resolve) => setTimeout(resolve, PARTITION_MS));
  await link.heal();

  await until(async () => (await progress())[0] === 'confirmed', `the update confirmed (${device.output().slice(-3000)})`, 120_000);
  t.log(`update confirmed ${Date.now() - started} ms after the rollout (${PARTITION_MS} ms of it partitioned)`);
  t.is(await sql(`SELECT state FROM rollouts`), 'complete');
  const newSha = sha256Hex(Buffer.from(newModel));
  t.is(await sql(`SELECT count(*) FROM update_reports WHERE state = 'active'`), '1', 'switched once');

  clearInterval(dropping);
  await link.shape({});
  const lastDropped = dropped;
  await until(async () => Number(await sql(`SELECT count(*) FROM results WHERE device_id = '${DEVICE}'`)) >= lastDropped, `all ${lastDropped} results at the dashboard`, 60_000);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.is(Number(await sql(`SELECT count(*) FROM results WHERE device_id = '${DEVICE}'`)), lastDropped, 'every image once');
  t.is(Number(await sql(`SELECT count(DISTINCT payload->'image'->>'sha256') FROM results`)), lastDropped, 'no image twice');
  const byModel = await sql(`SELECT model_sha256, count(*), min(processed_at), max(processed_at) FROM results GROUP BY model_sha256 ORDER BY min(processed_at)`);
  t.log(byModel);
  const switchedAt = await sql(`SELECT min(at) FROM update_reports WHERE state = 'active'`);
  t.is(await sql(`SELECT count(*) FROM results WHERE model_sha256 <> '${newSha}' AND processed_at > '${switchedAt}'::timestamptz + interval '1 second'`), '0', 'after the switch, every image by the new model');
  t.true(Number(await sql(`SELECT count(*) FROM results WHERE model_sha256 = '${newSha}'`)) > 0);
});
