/**
 * Rollouts end to end on the dashboard's side, against a real Mosquitto and PostgreSQL: the
 * `cspine-edge dashboard` process (Dashboard: ingest, the dispatcher, the API) sends retained
 * install commands to the canaries, takes the devices' cspine.update.v1 reports as devices
 * publish them, moves on to the rest, halts on a failure, rolls back, and sends once even with
 * two dashboard processes or a broker that was down.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import mqtt from 'mqtt';
import { configSchema } from '../../src/config/schema.js';
import { Dashboard } from '../../src/dashboard/dashboard.js';
import { PackageStore } from '../../src/dashboard/updates/package-store.js';
import type { ModelCommand } from '../../src/dashboard/updates/model-commands.js';
import { createLogger } from '../../src/logger.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { startBroker, subscriber, type Received, type TestBroker } from '../helpers/brokers.js';
import { addUser, ApiClient, upsertDevice } from '../helpers/dashboard-fixtures.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';
import { assertValidPayload } from '../helpers/schemas.js';
import { writeSigningKeys, writeTestPackage } from '../helpers/signed-packages.js';

const PREFIX = 'cspine/v1';
const PASSWORD = 'correct horse battery';
let cluster: TemporaryPostgres;
let databases = 0;

test.before(async () => {
  cluster = await TemporaryPostgres.create('postgres_seed');
});
test.after.always(async () => {
  await cluster?.destroy();
});

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Fleet {
  broker: TestBroker;
  database: string;
  settings: ReturnType<typeof configSchema.parse>;
  manifestSha256: string;
  /** Every command on <prefix>/+/command/model, as a device would see them. */
  commands: Received[];
  admin: ApiClient;
  central: Dashboard;
}

/** A broker, a database with a stored package and known devices, a running dashboard, an admin signed in, and an observer of the command topics. */
async function fleet(t: ExecutionContext, devices: string[], options: { instances?: number } = {}): Promise<Fleet & { others: Dashboard[] }> {
  const broker = await startBroker(t, 'mosquitto');
  const database = `rollouts_${++databases}`;
  await cluster.query('postgres', `CREATE DATABASE ${database}`);
  const root = tempDir(t);
  const key = writeSigningKeys(root, 'fleet');
  const settings = (instanceId: string) =>
    configSchema.parse({
      dashboard: {
        instanceId,
        mqtt: { url: broker.url, reconnectMs: 100, lanes: 2 },
        postgres: { url: cluster.url(database), poolSize: 4 },
        http: { port: 0, secureCookies: false },
        updates: { dir: path.join(root, 'store'), trustedKeys: [key.publicFile] },
      },
    });
  const logger = createLogger('silent');
  const started: Dashboard[] = [];
  for (let i = 0; i < (options.instances ?? 1); i++) {
    const central = new Dashboard(settings(`central-${i + 1}`), logger);
    t.teardown(() => central.stop());
    await central.start();
    started.push(central);
  }
  const [central, ...others] = started as [Dashboard, ...Dashboard[]];
  const made = writeTestPackage(root, key);
  await new PackageStore(central.database, settings('x').dashboard.updates).add(made.dir, 'ada');
  for (const device of devices) await upsertDevice(central.database.pool, device);
  await addUser(central.database, 'ada', 'admin', PASSWORD);
  const admin = new ApiClient(central.web.url);
  await admin.login('ada', PASSWORD);
  const { messages } = await subscriber(t, broker, `${PREFIX}/+/command/model`);
  return { broker, database, settings: settings('x'), manifestSha256: made.manifestSha256, commands: messages, admin, central, others };
}

async function createRollout(client: ApiClient, body: Record<string, unknown>): Promise<string> {
  const response = await client.post('/api/rollouts', body);
  if (response.status !== 201) throw new Error(`create: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { rollout: { id: string } }).rollout.id;
}

type RolloutView = { rollout: { state: string; reason: string | null }; devices: Array<{ deviceId: string; stage: string; state: string; bytesDone: number | null; bytesTotal: number | null; code: string | null }> };

function show(client: ApiClient, id: string): Promise<RolloutView> {
  return client.json<RolloutView>(`/api/rollouts/${id}`);
}

function commandsTo(commands: Received[], device: string): ModelCommand[] {
  return commands.filter((received) => received.topic === `${PREFIX}/${device}/command/model`).map((received) => received.payload as unknown as ModelCommand);
}

/** A device's side: publishes cspine.update.v1 reports, QoS 1, each a millisecond after the one before. */
async function reporter(t: ExecutionContext, broker: TestBroker) {
  const client = await mqtt.connectAsync(broker.url, { clientId: `device-${crypto.randomUUID().slice(0, 8)}`, protocolVersion: 5 });
  t.teardown(() => client.endAsync(true));
  let clock = Date.now();
  return async (command: ModelCommand, state: string, extra: Record<string, unknown> = {}, at = new Date(++clock)) => {
    const report = {
      schema: 'cspine.update.v1',
      id: crypto.randomUUID(),
      deviceId: command.deviceId,
      at: at.toISOString(),
      commandId: command.id,
      rolloutId: command.rolloutId,
      ...(command.package ? { packageSha256: command.package.manifestSha256 } : {}),
      state,
      ...extra,
    };
    assertValidPayload(t, report);
    await client.publishAsync(`${PREFIX}/${command.deviceId}/update`, JSON.stringify(report), { qos: 1 });
    return report;
  };
}

test.serial('create: retained install commands, valid against the schema, go to the canaries only', async (t) => {
  const { commands, admin, manifestSha256, broker, central } = await fleet(t, ['amb-1', 'amb-2', 'amb-3', 'amb-4']);
  const id = await createRollout(admin, { package: manifestSha256.slice(0, 10), devices: ['amb-1', 'amb-2', 'amb-3', 'amb-4'], canary: ['amb-1', 'amb-2'] });
  await until(() => commands.length >= 2, 'the canaries’ commands');
  await sleep(500);
  t.deepEqual(commands.map((received) => received.topic).sort(), [`${PREFIX}/amb-1/command/model`, `${PREFIX}/amb-2/command/model`]);
  const tokens = new Set<string>();
  for (const { payload } of commands) {
    assertValidPayload(t, payload);
    const command = payload as unknown as ModelCommand;
    t.like(command, { action: 'install', rolloutId: id, package: { manifestSha256, modelId: 'bright' } });
    t.regex(command.download!.token, /^[A-Za-z0-9_-]{43}$/);
    tokens.add(command.download!.token);
  }
  t.is(tokens.size, 2, 'a token per device');
  // Only the hash is stored, and the commands are recorded as sent once the broker took them.
  const { rows } = await central.database.pool.query<{ device_id: string; state: string; token_sha256: string | null }>('SELECT device_id, state, token_sha256 FROM rollout_devices ORDER BY device_id');
  t.deepEqual(rows.map((row) => [row.device_id, row.state]), [['amb-1', 'sent'], ['amb-2', 'sent'], ['amb-3', 'pending'], ['amb-4', 'pending']]);
  const hashes = new Set(rows.map((row) => row.token_sha256));
  for (const token of tokens) {
    t.true(hashes.has(crypto.createHash('sha256').update(token).digest('hex')));
    t.false(JSON.stringify(rows).includes(token));
  }
  // Retained: a device that connects later finds its command.
  const late = await subscriber(t, broker, `${PREFIX}/amb-1/command/model`);
  await until(() => late.messages.length === 1, 'the retained command');
  t.true(late.messages[0]!.retain);
  t.is((await show(admin, id)).rollout.state, 'canary');
});

test.serial('reports move the rollout: progress is shown, the newest report wins, the canaries active send the rest, all active completes it', async (t) => {
  const { commands, admin, manifestSha256, broker } = await fleet(t, ['amb-1', 'amb-2', 'amb-3', 'amb-4']);
  const report = await reporter(t, broker);
  const id = await createRollout(admin, { package: manifestSha256, all: true, canary: ['amb-1', 'amb-2'] });
  await until(() => commands.length >= 2, 'the canaries’ commands');
  const [one] = commandsTo(commands, 'amb-1');
  const [two] = commandsTo(commands, 'amb-2');
  const total = one!.package!.totalBytes;

  await report(one!, 'downloading', { bytesDone: 1000, bytesTotal: total });
  await until(async () => (await show(admin, id)).devices.find((device) => device.deviceId === 'amb-1')?.state === 'downloading', 'progress');
  t.like((await show(admin, id)).devices.find((device) => device.deviceId === 'amb-1'), { bytesDone: 1000, bytesTotal: total, stage: 'canary' });

  const old = new Date(Date.now() - 60_000);
  await report(one!, 'testing');
  await report(one!, 'active', { model: { id: 'bright', sha256: one!.package!.files[0]!.sha256 } });
  await report(one!, 'downloading', { bytesDone: 5, bytesTotal: total }, old); // late and old: changes nothing
  await report(two!, 'active');
  await until(() => commands.length >= 4, 'the rest’s commands once every canary is active');
  t.deepEqual(commandsTo(commands, 'amb-3').map((command) => command.action), ['install']);
  t.deepEqual(commandsTo(commands, 'amb-4').map((command) => command.action), ['install']);
  const view = await show(admin, id);
  t.is(view.rollout.state, 'rolling');
  t.like(view.devices.find((device) => device.deviceId === 'amb-1'), { state: 'active', bytesDone: 1000 });

  await report(two!, 'confirmed');
  for (const device of ['amb-3', 'amb-4']) await report(commandsTo(commands, device)[0]!, 'active');
  await until(async () => (await show(admin, id)).rollout.state === 'complete', 'complete');
  t.pass();
});

test.serial('a failed report halts the rollout with its reason; no further command goes out; advance is refused', async (t) => {
  const { commands, admin, manifestSha256, broker, central } = await fleet(t, ['amb-1', 'amb-2', 'amb-3']);
  const report = await reporter(t, broker);
  const id = await createRollout(admin, { package: manifestSha256, devices: ['amb-1', 'amb-2', 'amb-3'], canary: ['amb-1'], autoAdvance: true });
  await until(() => commands.length >= 1, 'the canary’s command');
  await report(commandsTo(commands, 'amb-1')[0]!, 'failed', { code: 'E_MODEL_SELF_TEST_FAILED', message: 'reference/phantom-1.png gave AMBER, expected GREEN' });
  await until(async () => (await show(admin, id)).rollout.state === 'halted', 'halted');
  const view = await show(admin, id);
  t.is(view.rollout.reason, 'amb-1 reported failed: E_MODEL_SELF_TEST_FAILED reference/phantom-1.png gave AMBER, expected GREEN');
  t.like(view.devices.find((device) => device.deviceId === 'amb-1'), { state: 'failed', code: 'E_MODEL_SELF_TEST_FAILED' });

  const advance = await admin.post(`/api/rollouts/${id}/advance`);
  t.is(advance.status, 409);
  t.regex(((await advance.json()) as { error: string }).error, /is halted: only a rollout in its canary stage can advance/);
  await sleep(1000);
  t.is(commands.length, 1, 'nothing more was sent');
  const { rows } = await central.database.pool.query<{ n: string }>(`SELECT count(*) AS n FROM rollout_devices WHERE state = 'pending'`);
  t.is(Number(rows[0]!.n), 2);
});

test.serial('a report that breaks the schema is a dead letter; a report about another command changes nothing', async (t) => {
  const { commands, admin, manifestSha256, broker, central } = await fleet(t, ['amb-1']);
  const report = await reporter(t, broker);
  const id = await createRollout(admin, { package: manifestSha256, devices: ['amb-1'] });
  await until(() => commands.length >= 1, 'the command');
  const command = commandsTo(commands, 'amb-1')[0]!;
  const device = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  t.teardown(() => device.endAsync(true));
  await device.publishAsync(`${PREFIX}/amb-1/update`, JSON.stringify({ schema: 'cspine.update.v1', id: crypto.randomUUID(), deviceId: 'amb-1', state: 'exploded' }), { qos: 1 });
  await report({ ...command, id: crypto.randomUUID() }, 'failed', { code: 'E_DOWNLOAD_UNAUTHORIZED' });
  await report(command, 'downloading', { bytesDone: 10, bytesTotal: 100 });
  await until(async () => (await show(admin, id)).devices[0]?.state === 'downloading', 'the real report');
  const letters = await central.database.pool.query<{ topic: string; reason: string }>('SELECT topic, reason FROM dead_letters');
  t.is(letters.rows.length, 1);
  t.is(letters.rows[0]!.topic, `${PREFIX}/amb-1/update`);
  t.regex(letters.rows[0]!.reason, /cspine\.update\.v1: .*must have required property/);
  const stored = await central.database.pool.query<{ n: string }>('SELECT count(*) AS n FROM update_reports');
  t.is(stored.rows[0]!.n, '2', 'both valid reports are kept');
  t.is((await show(admin, id)).rollout.state, 'canary', 'the report about another command did not halt it');
});

test.serial('rollback: new rollback commands to every device that was sent the install, none to the others', async (t) => {
  const { commands, admin, manifestSha256, broker } = await fleet(t, ['amb-1', 'amb-2', 'amb-3']);
  const report = await reporter(t, broker);
  const id = await createRollout(admin, { package: manifestSha256, devices: ['amb-1', 'amb-2', 'amb-3'], canary: ['amb-1', 'amb-2'], autoAdvance: false });
  await until(() => commands.length >= 2, 'the canaries’ commands');
  const installs = new Map(['amb-1', 'amb-2'].map((device) => [device, commandsTo(commands, device)[0]!]));
  await report(installs.get('amb-1')!, 'active');

  const response = await admin.post(`/api/rollouts/${id}/rollback`);
  t.is(response.status, 200);
  t.is(((await response.json()) as { rollout: { state: string; reason: string } }).rollout.reason, 'rolled back by ada');
  await until(() => commands.length >= 4, 'the rollback commands');
  for (const device of ['amb-1', 'amb-2']) {
    const [install, rollback] = commandsTo(commands, device);
    assertValidPayload(t, rollback as unknown as Record<string, unknown>);
    t.like(rollback, { action: 'rollback', rolloutId: id, deviceId: device });
    t.not(rollback!.id, install!.id);
    t.is(rollback!.package, undefined);
    t.is(rollback!.download, undefined);
  }
  t.deepEqual(commandsTo(commands, 'amb-3'), []);

  await report(commandsTo(commands, 'amb-1')[1]!, 'rolled-back', { model: { id: 'previous', sha256: 'a'.repeat(64) } });
  await until(async () => (await show(admin, id)).devices.find((device) => device.deviceId === 'amb-1')?.state === 'rolled-back', 'amb-1 rolled back');
  const view = await show(admin, id);
  t.is(view.rollout.state, 'rolled-back');
  t.is((await admin.post(`/api/rollouts/${id}/rollback`)).status, 409);
});

test.serial('commands wait while the broker is down and go out when it is back', async (t) => {
  const { commands, admin, manifestSha256, broker, central } = await fleet(t, ['amb-1', 'amb-2']);
  await broker.stop();
  const id = await createRollout(admin, { package: manifestSha256, devices: ['amb-1', 'amb-2'], canaryPercent: 0 });
  await sleep(500);
  const pending = async () => (await central.database.pool.query<{ n: string }>(`SELECT count(*) AS n FROM rollout_devices WHERE state = 'pending'`)).rows[0]!.n;
  t.is(await pending(), '2');
  t.is((await show(admin, id)).rollout.state, 'rolling', 'no canary stage at 0 %');
  await broker.start();
  await until(async () => (await pending()) === '0', 'sent after the broker is back');
  await until(() => commands.length >= 2, 'the commands');
  t.deepEqual(commands.map((received) => received.topic).sort(), [`${PREFIX}/amb-1/command/model`, `${PREFIX}/amb-2/command/model`]);
});

test.serial('two dashboard processes: each command goes out once, each transition is made once', async (t) => {
  const { commands, admin, manifestSha256, broker } = await fleet(t, ['amb-1', 'amb-2', 'amb-3', 'amb-4', 'amb-5'], { instances: 2 });
  const report = await reporter(t, broker);
  const id = await createRollout(admin, { package: manifestSha256, all: true, canary: ['amb-1'] });
  await until(() => commands.length >= 1, 'the canary’s command');
  await report(commandsTo(commands, 'amb-1')[0]!, 'active');
  await until(() => commands.length >= 5, 'the rest');
  // Both processes sweep every few seconds: give them the time to send anything twice.
  await sleep(6000);
  for (const device of ['amb-1', 'amb-2', 'amb-3', 'amb-4', 'amb-5']) t.is(commandsTo(commands, device).length, 1, device);
  t.is((await show(admin, id)).rollout.state, 'rolling');
});

/** `cspine-edge dashboard rollout …`, the built CLI. */
const rolloutCommand = (args: string[], configFile: string) => runCli(['dashboard', 'rollout', ...args, '--config', configFile]);

test.serial('the rollout command creates a rollout and sends the canaries’ commands itself, shows it, and refuses an unknown device', async (t) => {
  const { commands, manifestSha256, settings, central } = await fleet(t, ['amb-1', 'amb-2', 'amb-3']);
  // The command line alone: no dashboard process sends anything.
  await central.stop();
  const configFile = path.join(tempDir(t), 'dashboard.json');
  fs.writeFileSync(configFile, JSON.stringify({ dashboard: { mqtt: { url: settings.dashboard.mqtt.url }, postgres: { url: settings.dashboard.postgres.url }, updates: { ...settings.dashboard.updates, groups: { north: ['amb-1', 'amb-2'] } } } }));

  const created = await rolloutCommand(['create', '--package', manifestSha256.slice(0, 8), '--group', 'north', '--canary', 'amb-2'], configFile);
  t.is(created.code, 0, created.stderr);
  const id = /^created rollout ([0-9a-f-]{36}): bright to group north \(2 devices\), 1 canary first \(canary\)$/m.exec(created.stdout)?.[1];
  t.truthy(id, created.stdout);
  t.regex(created.stdout, /^1 command sent$/m);
  await until(() => commands.length >= 1, 'the command');
  t.deepEqual(commands.map((received) => received.topic), [`${PREFIX}/amb-2/command/model`]);

  const shown = await rolloutCommand(['show', id!], configFile);
  t.is(shown.code, 0, shown.stderr);
  t.regex(shown.stdout, /^amb-2\s+canary\s+sent/m);
  t.regex(shown.stdout, /^amb-1\s+main\s+pending/m);

  const unknown = await rolloutCommand(['create', '--package', manifestSha256, '--devices', 'amb-1,amb-9'], configFile);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /^cspine-edge: E_DASHBOARD_ROLLOUT_INVALID: .*unknown device amb-9/m);
  const busy = await rolloutCommand(['create', '--package', manifestSha256, '--devices', 'amb-1'], configFile);
  t.regex(busy.stderr, /^cspine-edge: E_DASHBOARD_ROLLOUT_INVALID: already being updated: amb-1 \(rollout [0-9a-f-]{36}, canary\)/m);
});
