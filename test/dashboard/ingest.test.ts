import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import mqtt from 'mqtt';
import pg from 'pg';
import { dashboardRetire } from '../../src/commands/dashboard-retire.js';
import { configSchema } from '../../src/config/schema.js';
import { DashboardDatabase } from '../../src/dashboard/database/database.js';
import { Ingest } from '../../src/dashboard/ingest/ingest.js';
import { simulatedHealth, simulatedResult, simulatedStatus } from '../../src/tools/fixtures/payloads.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';
import { startBroker, type TestBroker } from '../helpers/brokers.js';
import { postgresForFile, startIngest, until } from '../helpers/ingest.js';
import { makeCertificates } from '../helpers/certificates.js';
import { capturedLogger, tempDir } from '../helpers/fixtures.js';

const PREFIX = 'cspine/v1';
const cluster = postgresForFile(test, 'ingest');

/** A dashboard's ingest (with its database) on its own PostgreSQL database and broker. */
async function dashboard(t: ExecutionContext, broker: TestBroker, options: { database?: string; instanceId?: string; lanes?: number; tls?: { ca: string; cert?: string; key?: string } } = {}) {
  const database = options.database ?? (await cluster.newDatabase());
  const settings = configSchema.parse({
    dashboard: {
      instanceId: options.instanceId ?? 'test',
      mqtt: { url: broker.url, reconnectMs: 100, lanes: options.lanes ?? 4, ...(options.tls ? { tls: options.tls } : {}) },
      postgres: { url: cluster.url(database) },
    },
  }).dashboard;
  return { database, ...(await startIngest(t, settings)) };
}

async function rows<T extends pg.QueryResultRow>(database: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: cluster.url(database) });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function count(database: string, table: string): Promise<number> {
  const [row] = await rows<{ n: string }>(database, `SELECT count(*) AS n FROM ${table}`);
  return Number(row?.n);
}

// Serial: each test runs a broker, dashboards and clients; a CI machine running several test
// files at once is loaded enough without ten of them together.
/** A device-side publisher: QoS 1, persistent session, so what it sends during an outage is resent. */
async function device(t: ExecutionContext, broker: TestBroker, clientId = `device-${Math.random().toString(36).slice(2)}`) {
  const client = await mqtt.connectAsync(broker.url, { clientId, protocolVersion: 5, clean: false, reconnectPeriod: 100, properties: { sessionExpiryInterval: 3600 } });
  t.teardown(() => client.endAsync(true));
  return {
    client,
    publish: (topic: string, payload: unknown, options: mqtt.IClientPublishOptions = {}) =>
      client.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1, ...options }),
  };
}

test.serial('results from several devices are stored once each, with the devices, and never a clear file name', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const { database, ingest } = await dashboard(t, broker);
  const sender = await device(t, broker);
  const sent = [];
  for (let i = 0; i < 200; i++) {
    const result = simulatedResult(`amb-${i % 5}`, i % 10 === 0 ? 'RED' : 'GREEN');
    const payload = { ...result, image: { ...result.image, source: `SMITH_JOHN_${i}.png` } };
    sent.push(payload);
    await sender.publish(`${PREFIX}/${payload.deviceId}/result`, payload);
  }
  // The same message delivered again (a device resending after a lost PUBACK).
  await sender.publish(`${PREFIX}/${sent[7]!.deviceId}/result`, sent[7]);
  await until(() => ingest.counters.messages >= 201, 'all messages ingested');
  t.is(await count(database, 'results'), 200);
  t.is(ingest.counters.duplicates, 1);
  const [red] = await rows<{ n: string }>(database, `SELECT count(*) AS n FROM results WHERE level = 'RED'`);
  t.is(Number(red?.n), 20);
  const devices = await rows<{ device_id: string; last_result_at: Date }>(database, 'SELECT device_id, last_result_at FROM devices ORDER BY device_id');
  t.deepEqual(
    devices.map((row) => row.device_id),
    ['amb-0', 'amb-1', 'amb-2', 'amb-3', 'amb-4'],
  );
  const [clear] = await rows<{ n: string }>(database, `SELECT count(*) AS n FROM results WHERE payload::text LIKE '%SMITH%'`);
  t.is(Number(clear?.n), 0, 'image.source is dropped at ingest');
  const [stored] = await rows<{ payload: { image: Record<string, unknown> } }>(database, `SELECT payload FROM results WHERE id = '${sent[0]!.id}'`);
  t.is(stored?.payload.image.sourceRef, sent[0]!.image.sourceRef);
});

test.serial('bad messages go to dead letters with the reason, and ingest goes on', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const { database, ingest } = await dashboard(t, broker);
  const sender = await device(t, broker);
  const good = simulatedResult('amb-1', 'GREEN');
  await sender.publish(`${PREFIX}/amb-1/result`, '{not json');
  await sender.publish(`${PREFIX}/amb-1/result`, { ...good, triage: { level: 'PURPLE', reason: 'x' } });
  await sender.publish(`${PREFIX}/amb-2/result`, simulatedResult('amb-1', 'GREEN'));
  await sender.publish(`${PREFIX}/amb-1/event`, good);
  await sender.publish(`${PREFIX}/amb-1/result`, good);
  await until(() => ingest.counters.messages >= 5, 'all messages ingested');
  const letters = await rows<{ topic: string; reason: string; device_id: string }>(database, 'SELECT topic, reason, device_id FROM dead_letters');
  t.is(letters.length, 4);
  // Lanes take messages in parallel: the order they are stored in is not the order sent.
  for (const reason of [/^not JSON/, /cspine\.result\.v1: \/triage\/level/, /differs from the topic's "amb-2"/, /a cspine\.result\.v1 payload on a event topic/]) {
    t.true(
      letters.some((letter) => reason.test(letter.reason)),
      `a dead letter for ${String(reason)} among ${JSON.stringify(letters)}`,
    );
  }
  t.is(await count(database, 'results'), 1);
});

test.serial('statuses: the retained one is read at start, the newest wins, a last will says offline since it arrived', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const sender = await device(t, broker);
  const started = new Date(Date.now() - 3_600_000);
  await sender.publish(`${PREFIX}/amb-1/status`, simulatedStatus('amb-1', 'online', started), { retain: true });
  const { database, ingest } = await dashboard(t, broker);
  await until(() => ingest.counters.messages >= 1, 'the retained status');
  let [row] = await rows<{ state: string; state_since: Date; condition: { state: string } }>(database, `SELECT state, state_since, condition FROM devices WHERE device_id = 'amb-1'`);
  t.is(row?.state, 'online');
  t.is(row?.state_since.toISOString(), started.toISOString());
  t.is(row?.condition.state, 'ready');
  // An older status arriving late changes nothing.
  await sender.publish(`${PREFIX}/amb-1/status`, simulatedStatus('amb-1', 'offline', new Date(started.getTime() - 1000)));
  // The last will: sent by the broker now, stamped with the connection's start.
  const beforeWill = Date.now();
  await sender.publish(`${PREFIX}/amb-1/status`, simulatedStatus('amb-1', 'offline', new Date(started.getTime() + 1000)));
  await sender.publish(`${PREFIX}/amb-1/health`, simulatedHealth('amb-1', { pending: 12 }), { qos: 0 });
  await until(() => ingest.counters.messages >= 4, 'status and health');
  [row] = await rows<{ state: string; state_since: Date; condition: { state: string } }>(database, `SELECT state, state_since, condition FROM devices WHERE device_id = 'amb-1'`);
  t.is(row?.state, 'offline');
  t.true(row!.state_since.getTime() >= beforeWill - 5, 'offline since the will arrived, not since the connection began');
  const [health] = await rows<{ health: { outbox: { pending: number } } }>(database, `SELECT health FROM devices WHERE device_id = 'amb-1'`);
  t.is(health?.health.outbox.pending, 12);
});

test.serial('dashboard restart: what arrives while it is down is stored after it comes back, once', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const first = await dashboard(t, broker);
  const sender = await device(t, broker);
  for (let i = 0; i < 50; i++) await sender.publish(`${PREFIX}/amb-1/result`, simulatedResult('amb-1', 'GREEN'));
  await until(() => first.ingest.counters.messages >= 50, 'the first 50');
  await first.stop();
  for (let i = 0; i < 150; i++) await sender.publish(`${PREFIX}/amb-1/result`, simulatedResult('amb-1', 'AMBER'));
  const second = await dashboard(t, broker, { database: first.database });
  await until(async () => (await count(first.database, 'results')) >= 200, 'the 150 sent while it was down', 30_000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(await count(first.database, 'results'), 200);
  t.is(second.ingest.counters.duplicates, 0);
});

test.serial('broker restart: nothing lost, nothing stored twice', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const { database, ingest } = await dashboard(t, broker);
  const sender = await device(t, broker);
  for (let i = 0; i < 100; i++) await sender.publish(`${PREFIX}/amb-1/result`, simulatedResult('amb-1', 'GREEN'));
  await broker.stop();
  await until(() => ingest.connections.connected === 0, 'the lanes to notice');
  await broker.start();
  await until(() => sender.client.connected, 'the device back');
  // Mosquitto 2.0 restores no shared subscription: what it takes before the lanes subscribe again
  // goes nowhere. This sender has no outbox; a device resends it (receipts.test.ts).
  await until(() => ingest.connections.connected === 4, 'the lanes subscribed again');
  for (let i = 0; i < 100; i++) await sender.publish(`${PREFIX}/amb-2/result`, simulatedResult('amb-2', 'RED'));
  await until(async () => (await count(database, 'results')) >= 200, 'all 200', 60_000).catch(async (error: Error) => {
    throw new Error(`${error.message}: ${await count(database, 'results')} stored, ${ingest.counters.messages} messages, ingest ${ingest.health().detail}`);
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(await count(database, 'results'), 200);
  t.true(ingest.health().status === 'ok');
});

test.serial('database restart: messages wait unacknowledged at the broker and are stored once it is back', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  // Its own cluster: stopping the shared one would break the other tests.
  const own = await TemporaryPostgres.create();
  t.teardown(() => own.destroy());
  const settings = configSchema.parse({ dashboard: { mqtt: { url: broker.url, reconnectMs: 100, lanes: 4 }, postgres: { url: own.url() } } }).dashboard;
  const log = capturedLogger();
  const store = new DashboardDatabase(settings.postgres, log.logger);
  const ingest = new Ingest(settings, store, log.logger);
  await store.start();
  await ingest.start();
  t.teardown(async () => {
    await ingest.stop();
    await store.stop();
  });
  const sender = await device(t, broker);
  for (let i = 0; i < 40; i++) await sender.publish(`${PREFIX}/amb-1/result`, simulatedResult('amb-1', 'GREEN'));
  await until(() => ingest.counters.messages >= 40, 'the first 40');
  await own.stop();
  for (let i = 0; i < 60; i++) await sender.publish(`${PREFIX}/amb-1/result`, simulatedResult('amb-1', 'RED'));
  await until(() => ingest.health().status === 'degraded', 'ingest to notice');
  t.regex(ingest.health().detail, /cannot write/);
  await own.start();
  await until(() => ingest.counters.messages >= 100, 'the 60 sent while the database was down', 30_000);
  const client = new pg.Client({ connectionString: own.url() });
  await client.connect();
  const { rows: counted } = await client.query<{ n: string }>('SELECT count(*) AS n FROM results');
  await client.end();
  t.is(Number(counted[0]?.n), 100);
  t.is(ingest.health().status, 'ok');
  t.true(log.lines.some((line) => /PostgreSQL is back/.test(String(line.msg))));
});

test.serial('two dashboard processes share the subscription: each message is stored once, both take part', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const one = await dashboard(t, broker, { instanceId: 'one', lanes: 2 });
  const two = await dashboard(t, broker, { database: one.database, instanceId: 'two', lanes: 2 });
  const sender = await device(t, broker);
  for (let i = 0; i < 300; i++) await sender.publish(`${PREFIX}/amb-${i % 3}/result`, simulatedResult(`amb-${i % 3}`, 'GREEN'));
  await until(() => one.ingest.counters.messages + two.ingest.counters.messages >= 300, 'all 300');
  t.is(await count(one.database, 'results'), 300);
  t.true(one.ingest.counters.messages > 50 && two.ingest.counters.messages > 50, `split ${one.ingest.counters.messages}/${two.ingest.counters.messages}`);
  t.is(one.ingest.counters.duplicates + two.ingest.counters.duplicates, 0);
});

test.serial('a stopped instance keeps its share at the broker; `dashboard retire` stores it and leaves the group', async (t) => {
  const broker = await startBroker(t, 'mosquitto');
  const staying = await dashboard(t, broker, { instanceId: 'staying', lanes: 2 });
  const leaving = await dashboard(t, broker, { database: staying.database, instanceId: 'leaving', lanes: 2 });
  await until(() => leaving.ingest.connections.connected === 2, 'the leaving instance connected');
  await new Promise((resolve) => setTimeout(resolve, 300)); // its subscriptions acknowledged
  await leaving.stop();
  const sender = await device(t, broker);
  for (let i = 0; i < 100; i++) await sender.publish(`${PREFIX}/amb-1/result`, simulatedResult('amb-1', 'GREEN'));
  await until(() => staying.ingest.counters.messages >= 30, 'the staying instance to take its share');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const beforeRetire = await count(staying.database, 'results');
  t.true(beforeRetire < 100, `the stopped instance's sessions held part of them (${100 - beforeRetire} of 100)`);

  const root = tempDir(t);
  const configFile = path.join(root, 'dashboard.yaml');
  fs.writeFileSync(configFile, JSON.stringify({ dashboard: { mqtt: { url: broker.url, lanes: 2 }, postgres: { url: cluster.url(staying.database) } }, log: { level: 'warn' } }));
  t.is(await dashboardRetire.run(['--config', configFile, '--instance', 'leaving', '--quiet-seconds', '1']), 0);
  t.is(await count(staying.database, 'results'), 100);

  // Its sessions are gone: everything now goes to the instance that stayed.
  for (let i = 0; i < 50; i++) await sender.publish(`${PREFIX}/amb-2/result`, simulatedResult('amb-2', 'RED'));
  await until(async () => (await count(staying.database, 'results')) >= 150, 'all new results at the staying instance');
});

test.serial('mTLS to the broker: with its client certificate the dashboard ingests; without one the broker refuses it', async (t) => {
  const certs = makeCertificates(tempDir(t), 'dashboard');
  const broker = await startBroker(t, 'mosquitto', { tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey } });
  const tls = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey };
  const { database, ingest } = await dashboard(t, broker, { tls });
  const sender = await mqtt.connectAsync(broker.url, { clientId: 'tls-device', protocolVersion: 5, ca: fs.readFileSync(certs.ca), cert: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey) });
  t.teardown(() => sender.endAsync(true));
  await until(() => ingest.connections.connected === ingest.connections.lanes, 'every lane connected over TLS');
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (let i = 0; i < 10; i++) await sender.publishAsync(`${PREFIX}/amb-1/result`, JSON.stringify(simulatedResult('amb-1', 'GREEN')), { qos: 1 });
  await until(async () => (await count(database, 'results')) === 10, 'results over TLS');

  const anonymous = await dashboard(t, broker, { database, instanceId: 'no-cert', tls: { ca: certs.ca } });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.is(anonymous.ingest.connections.connected, 0);
  t.is(anonymous.ingest.health().status, 'degraded');
});
